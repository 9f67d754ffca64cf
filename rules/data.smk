# Downloads run where Snakemake runs, not on a cluster's compute nodes, which often cannot reach the web.
localrules:
    fetch_data,


rule fetch_data:
    """Download a data set for data_dir: auto, check it against its published checksums, move it into place."""
    output:
        ready=W.ready_pattern,
    log:
        paths.fetch_log(RESULTS, "{dataset}"),
    wildcard_constraints:
        dataset=one_of(PIPE.fetched),
    conda:
        "../envs/nowrongturns.yaml"
    resources:
        mem_mb=500,
        runtime=120,
    params:
        sources=W.fetch_sources,
        retries=PIPE.data["retries"],
        cache=f"{RESULTS}/.cache/data",
    script:
        "../scripts/fetch_data.py"
