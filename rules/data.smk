# Downloads run where Snakemake runs, not on a cluster's compute nodes, which often cannot reach the web.
localrules:
    fetch_data,


rule fetch_data:
    """Download a data set for data_dir: auto (or check a folder of it placed by hand) against its published
    checksums. Which folders: read from the config in the job (datasets/ready.py), so that moving between them
    reruns nothing."""
    output:
        mark=paths.published_mark(RESULTS, "{dataset}"),
    log:
        paths.fetch_log(RESULTS, "{dataset}"),
    wildcard_constraints:
        dataset=one_of(W.published_datasets()),
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=500,
        runtime=120,
    script:
        "../scripts/fetch_data.py"
