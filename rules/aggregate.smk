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


rule blocks:
    """The run's per-block table: γ, RSI and the shares of ‖d‖² and ‖G‖² per parameter block and epoch."""
    input:
        W.segment_files,
    output:
        paths.table(RUNS, "blocks"),
    log:
        paths.log(RUNS, "blocks"),
    benchmark:
        paths.benchmark(RUNS, "blocks")
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        budget=W.epochs,
    script:
        "../scripts/blocks.py"
