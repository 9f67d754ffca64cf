rule gather:
    """Join the segments into the per-step table and collect their drift."""
    input:
        segment_files,
    output:
        steps=f"{RUNS}/steps.parquet",
        drift=f"{RUNS}/drift.json",
    params:
        budget=run_epochs,
        grad_clip=run_grad_clip,
    log:
        f"{RUNS}/logs/gather.log",
    benchmark:
        f"{RUNS}/benchmarks/gather.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/nowrongturns.yaml"
    script:
        "../scripts/gather.py"


rule epoch_stats:
    """Per-epoch mean, std, min, max and quantiles of RSI, EB, γ, loLR and ‖d‖."""
    input:
        f"{RUNS}/steps.parquet",
    output:
        f"{RUNS}/epochs.parquet",
    log:
        f"{RUNS}/logs/epoch_stats.log",
    benchmark:
        f"{RUNS}/benchmarks/epoch_stats.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/nowrongturns.yaml"
    script:
        "../scripts/epoch_stats.py"


rule lolr:
    """loLR per epoch beside the lr actually used."""
    input:
        f"{RUNS}/steps.parquet",
    output:
        f"{RUNS}/lolr.parquet",
    log:
        f"{RUNS}/logs/lolr.log",
    benchmark:
        f"{RUNS}/benchmarks/lolr.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/nowrongturns.yaml"
    script:
        "../scripts/lolr.py"
