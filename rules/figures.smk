rule figure:
    """One figure of one study; its folder is named by everything drawn in it."""
    input:
        figure_tables,
    output:
        multiext(f"{RESULTS}/figures/{{study}}-{{fighash}}/{{kind}}", *[f".{fmt}" for fmt in FORMATS]),
    log:
        f"{RESULTS}/figures/logs/{{study}}-{{fighash}}-{{kind}}.log",
    benchmark:
        f"{RESULTS}/figures/benchmarks/{{study}}-{{fighash}}-{{kind}}.tsv"
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=figure_runs,
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
        multiext(f"{RESULTS}/figures/overview/{{fighash}}/gamma", *[f".{fmt}" for fmt in FORMATS]),
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
