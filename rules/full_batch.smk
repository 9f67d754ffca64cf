rule full_batch_segment:
    """Replay one segment and take the full-batch gradients (FULL_BATCH_MODES) at the chosen epochs."""
    input:
        lambda w: W.full_batch(w).inputs(),
    output:
        paths.segment(RUNS, "{segment}", "full_batch"),
    log:
        paths.log(RUNS, "full_batch_segment_{segment}"),
    benchmark:
        paths.benchmark(RUNS, "full_batch_segment_{segment}")
    conda:
        "../envs/nowrongturns.yaml"
    threads: W.threads
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=W.segment_runtime,
        gpu=PIPE.resources["gpu"],
    params:
        # Fields of the job (jobs.full_batch_job): a change reruns it; its script checks them (check_planned).
        targets=W.job_field(W.full_batch, "targets"),
        forks=W.job_field(W.full_batch, "forks"),
        settings=W.settings,
        run_dir=W.run_dir,
        bounds=W.job_field(W.full_batch, "bounds"),
        every=PIPE.measure["full_batch_every"],
        modes=FULL_BATCH_MODES,  # what the job measures: a change reruns it
        tolerance=PIPE.measure["drift_tolerance"],
    script:
        "../scripts/full_batch_segment.py"


rule full_batch:
    """The run's full-batch table: RSI, EB, γ, loLR of ∇L per epoch, mode and target, beside the minibatch γ."""
    input:
        segments=W.full_batch_segment_files,
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
        budget=W.epochs,
        forks=W.fork_ids,
    script:
        "../scripts/full_batch.py"
