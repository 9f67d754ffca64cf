rule measure_segment:
    """Replay one segment from its reference checkpoint and record the per-step geometry."""
    input:
        lambda w: replay(w).inputs(),
    output:
        paths.segment(RUNS, "{segment}"),
    log:
        paths.log(RUNS, "measure_segment_{segment}"),
    benchmark:
        paths.benchmark(RUNS, "measure_segment_{segment}")
    conda:
        "../envs/nowrongturns.yaml"
    threads: run_threads
    resources:
        **RANK_RESOURCES,
        mem_mb=PIPE.resources["mem_mb"],
        runtime=lambda w: PIPE.segment_runtime(w.run, int(w.segment)),
        gpu=run_gpus,
    params:
        # Fields of the job (jobs.replay_job): a change reruns it; its script checks them (check_planned).
        targets=job_field(replay, "targets"),
        forks=job_field(replay, "forks"),
        settings=run_settings,
        run_dir=run_dir,
        bounds=job_field(replay, "bounds"),
        tolerance=PIPE.measure["drift_tolerance"],
    script:
        "../scripts/measure_segment.py"
