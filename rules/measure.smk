rule measure_segment:
    """Replay one segment from its reference checkpoint and record the per-step geometry."""
    input:
        lambda w: W.replay(w).inputs(),
    output:
        paths.segment(RUNS, "{segment}"),
    log:
        paths.log(RUNS, "measure_segment_{segment}"),
    benchmark:
        paths.benchmark(RUNS, "measure_segment_{segment}")
    conda:
        "../envs/nowrongturns.yaml"
    threads: W.threads
    resources:
        **RANK_RESOURCES,
        mem_mb=PIPE.resources["mem_mb"],
        runtime=W.segment_runtime,
        gpu=W.gpus,
    params:
        # Fields of the job (jobs.replay_job): a change reruns it; its script checks them (check_planned).
        targets=W.job_field(W.replay, "targets"),
        forks=W.job_field(W.replay, "forks"),
        settings=W.settings,
        run_dir=W.run_dir,
        bounds=W.job_field(W.replay, "bounds"),
        tolerance=PIPE.measure["drift_tolerance"],
        per_block=PIPE.measure["per_block"],
    script:
        "../scripts/measure_segment.py"
