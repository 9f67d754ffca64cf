rule sharpness_segment:
    """Replay one segment and estimate λ_max of the loss's Hessian at the chosen epoch starts."""
    input:
        lambda w: W.sharpness(w).inputs(),
    output:
        paths.segment(RUNS, "{segment}", "sharpness"),
    log:
        paths.log(RUNS, "sharpness_segment_{segment}"),
    benchmark:
        paths.benchmark(RUNS, "sharpness_segment_{segment}")
    conda:
        "../envs/nowrongturns.yaml"
    threads: W.threads
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=W.segment_runtime,
        gpu=PIPE.resources["gpu"],
    params:
        # Fields of the job (jobs.sharpness_job): a change reruns it.
        settings=W.settings,
        run_dir=W.run_dir,
        bounds=W.job_field(W.sharpness, "bounds"),
        every=W.job_field(W.sharpness, "every"),
        iterations=W.job_field(W.sharpness, "iterations"),
        batches=W.job_field(W.sharpness, "batches"),
        tolerance=PIPE.measure["drift_tolerance"],
    script:
        "../scripts/sharpness_segment.py"


rule sharpness:
    """The run's sharpness table: λ_max per measured epoch beside 2/lr and the epoch's median loLR."""
    input:
        segments=W.sharpness_segment_files,
        lolr=paths.table(RUNS, "lolr"),
    output:
        paths.table(RUNS, "sharpness"),
    log:
        paths.log(RUNS, "sharpness"),
    benchmark:
        paths.benchmark(RUNS, "sharpness")
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        budget=W.epochs,
    script:
        "../scripts/sharpness.py"
