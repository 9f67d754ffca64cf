rule measure_segment:
    """Replay one segment from its reference checkpoint and record the per-step geometry."""
    input:
        segment_inputs,
    output:
        f"{RUNS}/measure/segment_{{segment}}.parquet",
    log:
        f"{RUNS}/logs/measure_segment_{{segment}}.log",
    benchmark:
        f"{RUNS}/benchmarks/measure_segment_{{segment}}.tsv"
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
        tolerance=PIPE.measure["drift_tolerance"],
    script:
        "../scripts/measure_segment.py"
