"""The job of the rule fetch_data: every folder of one data set that the config names by the published checksums
holds the published files; data_dir: auto's is downloaded first when it is not there.

The folders come from the config, read in the job, not from the rule's params: switching a run between a
downloaded folder and the same files placed by hand then changes no input or param of any job, and reruns
nothing (the runs' ids are the same: config/data_folders.py).
"""
from __future__ import annotations

import logging

from nowrongturns.config import ConfigError, load
from nowrongturns.datasets.catalog import sources
from nowrongturns.datasets.fetch import fetch
from nowrongturns.datasets.published import verdict
from nowrongturns.storage.files import write_json

log = logging.getLogger("nowrongturns")


def make_ready(config: dict, dataset: str, mark: str) -> None:
    pipe = load(config)
    cache = f"{pipe.results}/.cache/data"
    checked = {}
    folder = pipe.fetched.get(dataset)
    if folder is not None:
        mirrors = pipe.data["mirrors"].get(dataset)
        checked[folder] = fetch(dataset, folder, sources(dataset, mirrors), pipe.data["retries"], cache).md5s
    for folder in pipe.by_hand.get(dataset, []):
        found = verdict(dataset, folder, cache)
        if found.state != "published":  # changed since Snakemake planned the job
            raise ConfigError(f"data folder {folder}: not the published {dataset} any more ({found.reason}); rerun "
                              f"Snakemake")
        log.info("%s holds the published %s", folder, dataset)
        checked[folder] = found.md5s
    write_json({"dataset": dataset, "folders": checked}, mark)
