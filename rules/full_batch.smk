rule full_batch_segment:
    """Replay one segment and take the full-batch gradient (eval and train mode) at the chosen epochs."""
    input:
        lambda w: full_batch(w).inputs(),
    output:
        paths.segment(RUNS, "{segment}", "full_batch"),
    log:
        paths.log(RUNS, "full_batch_segment_{segment}"),
    benchmark:
        paths.benchmark(RUNS, "full_batch_segment_{segment}")
    conda:
        "../envs/nowrongturns.yaml"
    threads: run_threads
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=lambda w: PIPE.segment_runtime(w.run, int(w.segment)),
        gpu=PIPE.resources["gpu"],
    params:
        # Fields of the job (jobs.full_batch_job): a change reruns it; its script checks them (check_planned).
        targets=job_field(full_batch, "targets"),
        forks=job_field(full_batch, "forks"),
        settings=run_settings,
        run_dir=run_dir,
        bounds=job_field(full_batch, "bounds"),
        every=PIPE.measure["full_batch_every"],
        tolerance=PIPE.measure["drift_tolerance"],
    script:
        "../scripts/full_batch_segment.py"


rule full_batch:
    """The run's full-batch table: RSI, EB, γ, loLR of ∇L per epoch, mode and target, beside the minibatch γ."""
    input:
        segments=lambda w: segment_files(w, "full_batch"),
        steps=paths.table(RUNS, "steps"),
    output:
        paths.table(RUNS, "full_batch"),
    log:
        paths.log(RUNS, "full_batch"),
    benchmark:
        paths.benchmark(RUNS, "full_batch")
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
