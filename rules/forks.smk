rule fork:
    """Continue a run from its checkpoint at at_epoch with another seed, to the same budget: w*′."""
    input:
        trunk_w_star,
    output:
        w_star=f"{RUNS}/forks/{{fork}}/reference/w_star.pt",
        history=f"{RUNS}/forks/{{fork}}/reference/history.parquet",
    log:
        f"{RUNS}/logs/fork_{{fork}}.log",
    benchmark:
        f"{RUNS}/benchmarks/fork_{{fork}}.tsv"
    conda:
        "../envs/nowrongturns.yaml"
    threads: run_threads
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=PIPE.resources["runtime"],
        gpu=PIPE.resources["gpu"],
    params:
        settings=run_settings,
        fork=fork_of,
        trunk=lambda w: PIPE.trunk[w.run],
        trunk_dir=trunk_dir,
        fork_dir=lambda w: f"{RESULTS}/runs/{w.run}/forks/{w.fork}",
        checkpoint_every=PIPE.measure["checkpoint_every"],
    script:
        "../scripts/fork.py"


rule forks_table:
    """γ against the run's w* and against each fork's w*′, per epoch from the fork on."""
    input:
        segment_files,
    output:
        f"{RUNS}/forks.parquet",
    log:
        f"{RUNS}/logs/forks_table.log",
    benchmark:
        f"{RUNS}/benchmarks/forks_table.tsv"
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        budget=run_epochs,
        forks=lambda w: [f for _, f in run_forks(w.run)],
        fork_ids=lambda w: [fid for fid, _ in run_forks(w.run)],
    script:
        "../scripts/forks_table.py"
