"""The results layout, in one place: the rules (rules/common.smk), the command line and the passes name
every file through these functions (docs/method.md: Outputs).

Each returns a string. Given "{run}" as a run id they return the rules' patterns: the layout is spelled
once for the jobs Snakemake plans and for the files the code opens.
"""
from __future__ import annotations


def run_dir(results: str, run_id: str) -> str:
    return f"{results}/runs/{run_id}"


def reference(run: str, name: str) -> str:
    """A file of the reference pass: w0.pt, w_star.pt, history.parquet."""
    return f"{run}/reference/{name}"


def w0(run: str) -> str:
    return reference(run, "w0.pt")


def w_star(run: str) -> str:
    return reference(run, "w_star.pt")


def history(run: str) -> str:
    return reference(run, "history.parquet")


def checkpoint_dir(run: str) -> str:
    return reference(run, "checkpoints")


def checkpoint(run: str, epoch: int) -> str:
    return f"{checkpoint_dir(run)}/epoch_{epoch:04d}.pt"


def segment(run: str, index, kind: str = "segment") -> str:
    """A replay segment's table; kind full_batch: its full-batch gradients."""
    return f"{run}/measure/{kind}_{index}.parquet"


def table(run: str, name: str) -> str:
    """A run's table by name: steps, epochs, lolr, full_batch, forks, path, or the reference's history."""
    return history(run) if name == "history" else f"{run}/{name}.parquet"


def drift(run: str) -> str:
    return f"{run}/drift.json"


def fork_dir(run: str, fork: str) -> str:
    """A fork's own run folder (reference/ and its checkpoints) under the run it forks."""
    return f"{run}/forks/{fork}"


def log(run: str, job: str) -> str:
    return f"{run}/logs/{job}.log"


def rank_log(run: str, job: str, rank: int) -> str:
    """The log of one rank of a job of several (the job's own log is the launcher's)."""
    return f"{run}/logs/ranks/{job}.rank{rank}.log"


def rank_spec(run: str, job: str) -> str:
    """What the ranks of a job run: the entry point and its arguments, written by the launcher."""
    return f"{run}/logs/ranks/{job}.json"


def fetch_log(results: str, dataset: str) -> str:
    return f"{results}/logs/fetch_data/{dataset}.log"


def published_mark(results: str, dataset: str) -> str:
    """What the rule fetch_data leaves once a data set's folders hold its published files (datasets/ready.py)."""
    return f"{results}/.cache/data/published/{dataset}.json"


def benchmark(run: str, job: str) -> str:
    return f"{run}/benchmarks/{job}.tsv"


def lock(run: str, name: str) -> str:
    return f"{run}/locks/{name}.lock"


def figure_dir(results: str, study: str, fighash: str) -> str:
    return f"{results}/figures/{study}-{fighash}"


def figure(results: str, study: str, fighash: str, kind: str, fmt: str) -> str:
    return f"{figure_dir(results, study, fighash)}/{kind}.{fmt}"


def overview_dir(results: str, fighash: str) -> str:
    return f"{results}/figures/overview/{fighash}"


def overview_figure(results: str, fighash: str, fmt: str) -> str:
    return f"{overview_dir(results, fighash)}/gamma.{fmt}"


def study_table(results: str, study: str, tablehash: str) -> str:
    """A study's per-epoch statistics as the Snakemake report shows them."""
    return f"{results}/report/{study}-{tablehash}/epochs.html"


def drift_summary(results: str, runshash: str) -> str:
    """Every run's replay drift, as the Snakemake report shows it."""
    return f"{results}/report/drift-{runshash}.html"


def findings(results: str, findingshash: str) -> str:
    """The numbers the analyses found, from the tables (nowrongturns/findings.py)."""
    return f"{results}/report/findings-{findingshash}.md"


def report_log(results: str, name: str) -> str:
    return f"{results}/report/logs/{name}.log"
