rule measure_segment:
    """Replay one segment from its reference checkpoint and record the per-step geometry."""
    input:
        segment_inputs,
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
        targets=segment_targets,
        forks=segment_forks,
        settings=run_settings,
        run_dir=run_dir,
        bounds=segment_bounds,
        tolerance=PIPE.measure["drift_tolerance"],
    script:
        "../scripts/measure_segment.py"
