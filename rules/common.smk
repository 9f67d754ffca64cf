# Shared helpers: the validated, expanded config and the paths derived from it.
import re

from snakemake.exceptions import WorkflowError

from nowrongturns.config import (
    RUN_ID_PATTERN,
    ConfigError,
    figure_hash,
    load,
    overview_hash,
    overview_studies,
    trajectory_settings,
)

try:
    PIPE = load(config)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None

RESULTS = PIPE.results
# Runs whose trajectory is a prefix of a longer one (the others are trained and replayed themselves).
PREFIXES = [r for r in PIPE.runs if PIPE.trunk[r] != r]


def one_of(run_ids):
    """A wildcard regex matching exactly these run ids (and nothing when there are none)."""
    return "|".join(re.escape(r) for r in run_ids) or "(?!)"

RUNS = f"{RESULTS}/runs/{{run}}"
FORMATS = PIPE.figures["formats"]


wildcard_constraints:
    run=RUN_ID_PATTERN,
    segment=r"\d+",
    study=r"[A-Za-z][A-Za-z0-9_]*",
    fighash=r"[0-9a-f]{10}",
    kind=r"[a-z_]+",


def run_settings(wildcards):
    """What the run is; where its data lives and how it is read come from the config in the job, so
    that moving the data reruns nothing (runtime_settings)."""
    return trajectory_settings(PIPE.runs[wildcards.run].settings)


def run_threads(wildcards):
    """Cores a training job occupies: torch's threads plus its DataLoader worker processes."""
    settings = PIPE.runs[wildcards.run].settings
    return settings["threads"] + settings.get("num_workers", 0)


def run_dir(wildcards):
    return f"{RESULTS}/runs/{wildcards.run}"


def run_epochs(wildcards):
    return PIPE.runs[wildcards.run].settings["epochs"]


def run_grad_clip(wildcards):
    return PIPE.runs[wildcards.run].settings["grad_clip"]


def trunk_w_star(wildcards):
    return f"{RESULTS}/runs/{PIPE.trunk[wildcards.run]}/reference/w_star.pt"


def trunk_dir(wildcards):
    return f"{RESULTS}/runs/{PIPE.trunk[wildcards.run]}"


def prefix_budgets(wildcards):
    """The epoch budgets a trunk run's reference pass also checkpoints, for its prefix runs."""
    return sorted(PIPE.budgets[wildcards.run])


def segment_targets(wildcards):
    """{budget: w* path} of every run this segment measures against (its own and its prefixes')."""
    start, _ = PIPE.segments(wildcards.run)[int(wildcards.segment)]
    return {b: f"{RESULTS}/runs/{r}/reference/w_star.pt" for b, r in PIPE.budgets[wildcards.run].items() if b > start}


def segment_files(wildcards):
    """The replay segments holding this run's steps: its own, or those of the run it is a prefix of."""
    trunk, budget = PIPE.trunk[wildcards.run], run_epochs(wildcards)
    return [
        f"{RESULTS}/runs/{trunk}/measure/segment_{i}.parquet"
        for i, (start, _) in enumerate(PIPE.segments(trunk))
        if start < budget
    ]


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
