rule aggregate:
    """Join the segments into the per-step table, collect their drift, and derive the per-epoch
    statistics (mean, std, min, max, quantiles of RSI, EB, γ, loLR, ‖d‖) and loLR beside the lr used."""
    input:
        W.segment_files,
    output:
        steps=paths.table(RUNS, "steps"),
        drift=paths.drift(RUNS),
        epochs=paths.table(RUNS, "epochs"),
        lolr=paths.table(RUNS, "lolr"),
    log:
        paths.log(RUNS, "aggregate"),
    benchmark:
        paths.benchmark(RUNS, "aggregate")
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        budget=W.epochs,
        grad_clip=W.grad_clip,
    script:
        "../scripts/aggregate.py"
