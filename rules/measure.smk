rule measure_segment:
    """Replay one segment from its reference checkpoint and record the per-step geometry."""
    input:
        w_star=f"{RUNS}/reference/w_star.pt",
    output:
        f"{RUNS}/measure/segment_{{segment}}.parquet",
    params:
        settings=run_settings,
        run_dir=run_dir,
        bounds=segment_bounds,
        tolerance=PIPE.measure["drift_tolerance"],
    log:
        f"{RUNS}/logs/measure_segment_{{segment}}.log",
    benchmark:
        f"{RUNS}/benchmarks/measure_segment_{{segment}}.tsv"
    threads: run_threads
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../envs/nowrongturns.yaml"
    script:
        "../scripts/measure_segment.py"
