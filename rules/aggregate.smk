rule aggregate:
    """Join the segments into the per-step table, collect their drift, and derive the per-epoch
    statistics (mean, std, min, max, quantiles of RSI, EB, γ, loLR, ‖d‖) and loLR beside the lr used."""
    input:
        segment_files,
    output:
        steps=f"{RUNS}/steps.parquet",
        drift=f"{RUNS}/drift.json",
        epochs=f"{RUNS}/epochs.parquet",
        lolr=f"{RUNS}/lolr.parquet",
    log:
        f"{RUNS}/logs/aggregate.log",
    benchmark:
        f"{RUNS}/benchmarks/aggregate.tsv"
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        budget=run_epochs,
        grad_clip=run_grad_clip,
    script:
        "../scripts/aggregate.py"
