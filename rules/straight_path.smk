rule straight_path:
    """Loss, validation metrics and full-batch γ along w(α) = (1 − α)·w_t + α·w*, for each chosen t."""
    input:
        w_star=paths.w_star(RUNS),
        trunk_w_star=W.trunk_w_star,
    output:
        paths.table(RUNS, "path"),
    log:
        paths.log(RUNS, "straight_path"),
    benchmark:
        paths.benchmark(RUNS, "straight_path")
    conda:
        "../envs/nowrongturns.yaml"
    threads: W.threads
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=PIPE.resources["runtime"],
        gpu=PIPE.resources["gpu"],
    params:
        settings=W.settings,
        trunk=W.trunk,
        trunk_dir=W.trunk_dir,
        from_epochs=PIPE.measure["path_from"],
        points=PIPE.measure["path_points"],
        path_bn=PIPE.measure["path_bn"],
        path_bn_batches=PIPE.measure["path_bn_batches"],
    script:
        "../scripts/straight_path.py"
