rule reference:
    """Train once from the seeded w0; keep checkpoints; publish w0 and w* (resumes after a kill)."""
    output:
        w0=f"{RUNS}/reference/w0.pt",
        w_star=f"{RUNS}/reference/w_star.pt",
        history=f"{RUNS}/reference/history.parquet",
    params:
        settings=run_settings,
        run_dir=run_dir,
        checkpoint_every=PIPE.measure["checkpoint_every"],
    log:
        f"{RUNS}/logs/reference.log",
    benchmark:
        f"{RUNS}/benchmarks/reference.tsv"
    threads: run_threads
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../envs/nowrongturns.yaml"
    script:
        "../scripts/reference.py"
