rule full_batch_segment:
    """Replay one segment and take the full-batch gradient (eval and train mode) at the chosen epochs."""
    input:
        segment_inputs,
    output:
        f"{RUNS}/measure/full_batch_{{segment}}.parquet",
    log:
        f"{RUNS}/logs/full_batch_segment_{{segment}}.log",
    benchmark:
        f"{RUNS}/benchmarks/full_batch_segment_{{segment}}.tsv"
    conda:
        "../envs/nowrongturns.yaml"
    threads: run_threads
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=lambda w: PIPE.segment_runtime(w.run, int(w.segment)),
        gpu=PIPE.resources["gpu"],
    params:
        targets=segment_targets,
        forks=segment_forks,
        settings=run_settings,
        run_dir=run_dir,
        bounds=segment_bounds,
        every=PIPE.measure["full_batch_every"],
        tolerance=PIPE.measure["drift_tolerance"],
    script:
        "../scripts/full_batch_segment.py"


rule full_batch:
    """The run's full-batch table: RSI, EB, γ, loLR of ∇L per epoch, mode and target, beside the minibatch γ."""
    input:
        segments=lambda w: segment_files(w, "full_batch"),
        steps=f"{RUNS}/steps.parquet",
    output:
        f"{RUNS}/full_batch.parquet",
    log:
        f"{RUNS}/logs/full_batch.log",
    benchmark:
        f"{RUNS}/benchmarks/full_batch.tsv"
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        budget=run_epochs,
        forks=lambda w: [fid for fid, _ in run_forks(w.run)],
    script:
        "../scripts/full_batch.py"
