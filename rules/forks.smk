rule fork:
    """Continue a run from its checkpoint at at_epoch with another seed, to the same budget: w*′."""
    input:
        W.trunk_w_star,
    output:
        w_star=paths.w_star(paths.fork_dir(RUNS, "{fork}")),
        history=paths.history(paths.fork_dir(RUNS, "{fork}")),
    log:
        paths.log(RUNS, "fork_{fork}"),
    benchmark:
        paths.benchmark(RUNS, "fork_{fork}")
    conda:
        "../envs/nowrongturns.yaml"
    threads: W.threads
    resources:
        mem_mb=PIPE.resources["mem_mb"],
        runtime=PIPE.resources["runtime"],
        gpu=PIPE.resources["gpu"],
    params:
        settings=W.settings,
        fork=W.fork_of,
        trunk=W.trunk,
        trunk_dir=W.trunk_dir,
        fork_dir=W.fork_dir,
        checkpoint_every=PIPE.measure["checkpoint_every"],
    script:
        "../scripts/fork.py"


rule forks_table:
    """γ against the run's w* and against each fork's w*′, per epoch from the fork on, with the geometric null."""
    input:
        segments=W.segment_files,
        w_star=W.own_w_star,
        fork_w_stars=W.fork_w_stars,
    output:
        paths.table(RUNS, "forks"),
    log:
        paths.log(RUNS, "forks_table"),
    benchmark:
        paths.benchmark(RUNS, "forks_table")
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        budget=W.epochs,
        forks=W.fork_list,
        fork_ids=W.fork_ids,
    script:
        "../scripts/forks_table.py"
