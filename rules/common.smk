# Shared helpers: the validated, expanded config and the paths derived from it.
import sys

from snakemake.exceptions import WorkflowError

# The package sits next to the Snakefile; scripts/ does the same for each job.
sys.path.insert(0, workflow.basedir)

from nowrongturns.config import ConfigError, figure_hash, load, overview_hash, overview_studies

try:
    PIPE = load(config)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None

RESULTS = PIPE.results
RUNS = f"{RESULTS}/runs/{{run}}"
FORMATS = PIPE.figures["formats"]


wildcard_constraints:
    run=r"[A-Za-z0-9.\-]+",
    segment=r"\d+",
    study=r"[A-Za-z][A-Za-z0-9_]*",
    fighash=r"[0-9a-f]{10}",
    kind=r"[a-z_]+",


def run_settings(wildcards):
    return PIPE.runs[wildcards.run].settings


def run_threads(wildcards):
    return PIPE.runs[wildcards.run].settings["threads"]


def run_dir(wildcards):
    return f"{RESULTS}/runs/{wildcards.run}"


def segment_files(wildcards):
    n = len(PIPE.segments(wildcards.run))
    return [f"{RESULTS}/runs/{wildcards.run}/measure/segment_{i}.parquet" for i in range(n)]


def segment_bounds(wildcards):
    return PIPE.segments(wildcards.run)[int(wildcards.segment)]


def figure_dir(study):
    return f"{RESULTS}/figures/{study.name}-{figure_hash(PIPE, study)}"


def study_of(wildcards):
    study = PIPE.studies[wildcards.study]
    if figure_hash(PIPE, study) != wildcards.fighash:
        raise WorkflowError(f"figure folder {wildcards.study}-{wildcards.fighash} is not the current one")
    return study


def figure_tables(wildcards):
    study = study_of(wildcards)
    table = {"counterexamples": "steps", "random_walk": "steps", "lolr": "lolr"}.get(wildcards.kind, "epochs")
    return [f"{RESULTS}/runs/{r}/{table}.parquet" for r in study.runs]


def figure_runs(wildcards):
    study = study_of(wildcards)
    return [
        {
            "run_id": r,
            "label": study.labels[r],
            **{t: f"{RESULTS}/runs/{r}/{t}.parquet" for t in ("steps", "epochs", "lolr")},
        }
        for r in study.runs
    ]


def overview_dir():
    return f"{RESULTS}/figures/overview/{overview_hash(PIPE)}"


def overview_tables(wildcards):
    return [f"{RESULTS}/runs/{r}/epochs.parquet" for s in overview_studies(PIPE) for r in s.runs]


def overview_runs(wildcards):
    if wildcards.fighash != overview_hash(PIPE):
        raise WorkflowError(f"overview folder {wildcards.fighash} is not the current one")
    return {
        s.name: [{"run_id": r, "label": s.labels[r], "epochs": f"{RESULTS}/runs/{r}/epochs.parquet"} for r in s.runs]
        for s in overview_studies(PIPE)
    }


def all_outputs():
    outs = []
    for run_id in PIPE.runs:
        base = f"{RESULTS}/runs/{run_id}"
        outs += [f"{base}/{t}.parquet" for t in ("steps", "epochs", "lolr")]
        outs += [f"{base}/drift.json", f"{base}/reference/history.parquet"]
    for study in PIPE.studies.values():
        outs += [f"{figure_dir(study)}/{kind}.{fmt}" for kind in study.figures for fmt in FORMATS]
    if overview_studies(PIPE):
        outs += [f"{overview_dir()}/gamma.{fmt}" for fmt in FORMATS]
    return outs
