# One rule per figure kind (figure_kinds.KINDS): each has its own report caption, report/<kind>.rst.
for kind in KINDS:

    rule:
        name:
            f"figure_{kind}"
        input:
            W.figure_tables(kind),
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
            runs=W.figure_runs(kind),
            runs_rst=W.figure_runs_rst,
            compare=W.compare,
            drop_final_epoch=PIPE.figures["drop_final_epoch"],
            formats=FORMATS,
            dpi=PIPE.figures["dpi"],
        script:
            "../scripts/figure.py"


rule overview:
    """Figure 1: γ per epoch, one panel per study that draws γ."""
    input:
        W.overview_tables,
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
        studies=W.overview_runs,
        drop_final_epoch=PIPE.figures["drop_final_epoch"],
        formats=FORMATS,
        dpi=PIPE.figures["dpi"],
    script:
        "../scripts/overview.py"


rule study_tables:
    """The study's per-epoch statistics as one HTML table, for the report."""
    input:
        W.study_tables_inputs,
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
        runs=W.study_tables_runs,
        runs_rst=W.study_tables_rst,
    script:
        "../scripts/study_tables.py"


rule drift_summary:
    """Every run's replay drift per segment (weights, d = w − w*, buffers) in one HTML table."""
    input:
        list(W.drift_files().values()),
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
        runs=list(W.drift_files()),
        tolerance=PIPE.measure["drift_tolerance"],
    script:
        "../scripts/drift_summary.py"


rule findings:
    """The numbers the analyses found (full batch, forks, path, update, schedules), from the tables, as one page."""
    input:
        W.findings_inputs,
    output:
        report(
            paths.findings(RESULTS, "{findingshash}"),
            caption="../report/findings.rst",
            category="Findings",
            labels={"table": "numbers from the tables"},
        ),
    log:
        paths.report_log(RESULTS, "findings-{findingshash}"),
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        studies=W.findings_studies,
        drop_final_epoch=PIPE.figures["drop_final_epoch"],
    script:
        "../scripts/findings.py"
