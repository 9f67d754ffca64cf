# Shared helpers: the validated, expanded config and the paths derived from it.
import re

from snakemake.exceptions import WorkflowError

from nowrongturns.config import (
    FIGURE_TABLES,
    RUN_ID_PATTERN,
    ConfigError,
    figure_hash,
    fork_id,
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
    fork=r"at\d+-seed\d+",


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


def segment_files(wildcards, kind="segment"):
    """The replay segments holding this run's steps (kind full_batch: its full-batch gradients): its own,
    or those of the run it is a prefix of."""
    trunk, budget = PIPE.trunk[wildcards.run], run_epochs(wildcards)
    return [
        f"{RESULTS}/runs/{trunk}/measure/{kind}_{i}.parquet"
        for i, (start, _) in enumerate(PIPE.segments(trunk))
        if start < budget
    ]


def run_forks(run_id):
    """[(fork id, fork)] of a run, in the order of its settings."""
    return [(fork_id(f), f) for f in PIPE.runs[run_id].settings.get("forks", [])]


def fork_of(wildcards):
    forks = dict(run_forks(wildcards.run))
    if wildcards.fork not in forks:
        raise WorkflowError(f"run {wildcards.run} declares no fork {wildcards.fork} (its forks: {list(forks)})")
    return forks[wildcards.fork]


def fork_w_star(run_id, fid):
    return f"{RESULTS}/runs/{run_id}/forks/{fid}/reference/w_star.pt"


def segment_forks(wildcards):
    """{name: {path, budget}} of the fork endpoints this segment also measures against: the forks of its run
    and of its prefixes that start before the segment's end (name <budget>:<fork id>, forks.fork_name)."""
    start, end = PIPE.segments(wildcards.run)[int(wildcards.segment)]
    return {
        f"{b}:{fid}": {"path": fork_w_star(r, fid), "budget": b}
        for b, r in PIPE.budgets[wildcards.run].items()
        if b > start
        for fid, f in run_forks(r)
        if f["at_epoch"] < end
    }


def segment_inputs(wildcards):
    return [*segment_targets(wildcards).values(), *(f["path"] for f in segment_forks(wildcards).values())]


def lolr_source_table(wildcards):
    """The loLR table a lolr schedule follows (its jobs read it: runtime_settings), or nothing."""
    settings = PIPE.runs[wildcards.run].settings
    return [f"{RESULTS}/runs/{settings['lolr_source']}/lolr.parquet"] if settings["schedule"] == "lolr" else []


def segment_bounds(wildcards):
    return PIPE.segments(wildcards.run)[int(wildcards.segment)]


def figure_dir(study):
    return f"{RESULTS}/figures/{study.name}-{figure_hash(PIPE, study)}"


def study_of(wildcards):
    study = PIPE.studies[wildcards.study]
    if figure_hash(PIPE, study) != wildcards.fighash:
        raise WorkflowError(f"figure folder {wildcards.study}-{wildcards.fighash} is not the current one")
    return study


def table_path(run_id, table):
    if table == "history":
        return f"{RESULTS}/runs/{run_id}/reference/history.parquet"
    return f"{RESULTS}/runs/{run_id}/{table}.parquet"


def figure_tables(wildcards):
    study = study_of(wildcards)
    return [table_path(r, t) for r in study.runs for t in FIGURE_TABLES[wildcards.kind]]


def figure_runs(wildcards):
    study = study_of(wildcards)
    return [
        {"run_id": r, "label": study.labels[r], **{t: table_path(r, t) for t in FIGURE_TABLES[wildcards.kind]}}
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
        outs += [f"{base}/{t}.parquet" for t in sorted(PIPE.tables.get(run_id, ()))]
    for study in PIPE.studies.values():
        outs += [f"{figure_dir(study)}/{kind}.{fmt}" for kind in study.figures for fmt in FORMATS]
    if overview_studies(PIPE):
        outs += [f"{overview_dir()}/gamma.{fmt}" for fmt in FORMATS]
    return outs
