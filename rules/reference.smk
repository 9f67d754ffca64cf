rule reference:
    """Train once from the seeded w0; keep checkpoints; publish w0 and w* (resumes after a kill)."""
    input:
        W.lolr_source_table,
        # ancient: a data set fetched again, or only checked again, reruns nothing that read it
        data=lambda w: ancient(W.data_ready(w)),
    output:
        w0=paths.w0(RUNS),
        w_star=paths.w_star(RUNS),
        history=paths.history(RUNS),
    log:
        paths.log(RUNS, "reference"),
    benchmark:
        paths.benchmark(RUNS, "reference")
    conda:
        "../envs/nowrongturns.yaml"
    threads: W.threads
    resources:
        **RANK_RESOURCES,
        mem_mb=PIPE.resources["mem_mb"],
        runtime=PIPE.resources["runtime"],
        gpu=W.gpus,
    params:
        settings=W.settings,
        run_dir=W.run_dir,
        checkpoint_every=PIPE.measure["checkpoint_every"],
        budgets=W.job_field(W.reference, "budgets"),
    script:
        "../scripts/reference.py"


# A prefix run's files could come from either rule: the one that names it wins. Only prefix_reference
# lists its run ids (an alternation of thousands of ids slows Snakemake's matching of every file).
ruleorder: prefix_reference > reference


rule prefix_reference:
    """A shorter epoch budget of a longer run with the same trajectory: its w* is a checkpoint of that run."""
    input:
        W.trunk_w_star,
    output:
        w0=paths.w0(RUNS),
        w_star=paths.w_star(RUNS),
        history=paths.history(RUNS),
    log:
        paths.log(RUNS, "reference"),
    benchmark:
        paths.benchmark(RUNS, "reference")
    wildcard_constraints:
        run=one_of(W.prefixes),
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=10,
    params:
        trunk_dir=W.trunk_dir,
        trunk=W.trunk,
        budget=W.epochs,
    script:
        "../scripts/prefix_reference.py"
