rule straight_path:
    """Loss, validation metrics and full-batch γ along w(α) = (1 − α)·w_t + α·w*, for each chosen t."""
    input:
        w_star=f"{RUNS}/reference/w_star.pt",
        trunk_w_star=trunk_w_star,
    output:
        f"{RUNS}/path.parquet",
    log:
        f"{RUNS}/logs/straight_path.log",
    benchmark:
        f"{RUNS}/benchmarks/straight_path.tsv"
    conda:
        "../envs/nowrongturns.yaml"
    threads: run_threads
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=PIPE.resources["runtime"],
        gpu=PIPE.resources["gpu"],
    params:
        settings=run_settings,
        trunk=lambda w: PIPE.trunk[w.run],
        trunk_dir=trunk_dir,
        from_epochs=PIPE.measure["path_from"],
        points=PIPE.measure["path_points"],
    script:
        "../scripts/straight_path.py"
