# One rule per figure kind (figure_kinds.KINDS): each has its own report caption, report/<kind>.rst.
for kind in KINDS:

    rule:
        name:
            f"figure_{kind}"
        input:
            for_kind(figure_tables, kind),
        output:
            figure_outputs(kind),
        log:
            f"{RESULTS}/figures/logs/{{study}}-{{fighash}}-{kind}.log",
        benchmark:
            f"{RESULTS}/figures/benchmarks/{{study}}-{{fighash}}-{kind}.tsv"
        conda:
            "../envs/nowrongturns.yaml"
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            kind=kind,
            runs=for_kind(figure_runs, kind),
            runs_rst=figure_runs_rst,
            compare=lambda w: PIPE.studies[w.study].compare,
            drop_final_epoch=PIPE.figures["drop_final_epoch"],
            formats=FORMATS,
            dpi=PIPE.figures["dpi"],
        script:
            "../scripts/figure.py"


rule overview:
    """Figure 1: γ per epoch, one panel per study that draws γ."""
    input:
        overview_tables,
    output:
        overview_outputs(),
    log:
        f"{RESULTS}/figures/logs/overview-{{fighash}}.log",
    benchmark:
        f"{RESULTS}/figures/benchmarks/overview-{{fighash}}.tsv"
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        studies=overview_runs,
        drop_final_epoch=PIPE.figures["drop_final_epoch"],
        formats=FORMATS,
        dpi=PIPE.figures["dpi"],
    script:
        "../scripts/overview.py"


rule study_tables:
    """The study's per-epoch statistics as one HTML table, for the report."""
    input:
        lambda w: [t for run in study_tables_runs(w) for t in (run["epochs"], run["lolr"])],
    output:
        report(
            paths.study_table(RESULTS, "{study}", "{tablehash}"),
            caption="../report/epochs_table.rst",
            category="{study}",
            subcategory="per-epoch table",
            labels={"study": "{study}", "table": "per-epoch statistics"},
        ),
    log:
        paths.report_log(RESULTS, "{study}-{tablehash}"),
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=study_tables_runs,
        runs_rst=lambda w: runs_rst(study_tables_runs(w)),
    script:
        "../scripts/study_tables.py"


rule drift_summary:
    """Every run's replay drift per segment (weights, d = w − w*, buffers) in one HTML table."""
    input:
        list(drift_files().values()),
    output:
        report(
            paths.drift_summary(RESULTS, "{runshash}"),
            caption="../report/drift.rst",
            category="Replay drift",
            labels={"table": "replay drift, every run"},
        ),
    log:
        paths.report_log(RESULTS, "drift-{runshash}"),
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=list(drift_files()),
        tolerance=PIPE.measure["drift_tolerance"],
    script:
        "../scripts/drift_summary.py"
