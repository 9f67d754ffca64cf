rule reference:
    """Train once from the seeded w0; keep checkpoints; publish w0 and w* (resumes after a kill)."""
    input:
        lolr_source_table,
    output:
        w0=f"{RUNS}/reference/w0.pt",
        w_star=f"{RUNS}/reference/w_star.pt",
        history=f"{RUNS}/reference/history.parquet",
    log:
        f"{RUNS}/logs/reference.log",
    benchmark:
        f"{RUNS}/benchmarks/reference.tsv"
    conda:
        "../envs/nowrongturns.yaml"
    threads: run_threads
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=PIPE.resources["runtime"],
        gpu=PIPE.resources["gpu"],
    params:
        settings=run_settings,
        run_dir=run_dir,
        checkpoint_every=PIPE.measure["checkpoint_every"],
        budgets=prefix_budgets,
    script:
        "../scripts/reference.py"


# A prefix run's files could come from either rule: the one that names it wins. Only prefix_reference
# lists its run ids (an alternation of thousands of ids slows Snakemake's matching of every file).
ruleorder: prefix_reference > reference


rule prefix_reference:
    """A shorter epoch budget of a longer run with the same trajectory: its w* is a checkpoint of that run."""
    input:
        trunk_w_star,
    output:
        w0=f"{RUNS}/reference/w0.pt",
        w_star=f"{RUNS}/reference/w_star.pt",
        history=f"{RUNS}/reference/history.parquet",
    log:
        f"{RUNS}/logs/reference.log",
    benchmark:
        f"{RUNS}/benchmarks/reference.tsv"
    wildcard_constraints:
        run=one_of(PREFIXES),
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=10,
    params:
        trunk_dir=trunk_dir,
        trunk=lambda w: PIPE.trunk[w.run],
        budget=run_epochs,
    script:
        "../scripts/prefix_reference.py"
