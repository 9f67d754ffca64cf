# Shared helpers: the validated, expanded config and the paths derived from it.
import re

from snakemake.exceptions import WorkflowError

from nowrongturns import launch, paths
from nowrongturns.config import (
    RUN_ID_PATTERN,
    ConfigError,
    figure_hash,
    fork_id,
    load,
    overview_hash,
    overview_studies,
    runs_hash,
    table_hash,
    trajectory_settings,
)
from nowrongturns.describe import about, runs_rst
from nowrongturns.figure_kinds import KINDS, RUN_TABLES, tables
from nowrongturns.jobs import full_batch_job, reference_job, replay_job

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


RUNS = paths.run_dir(RESULTS, "{run}")  # the rules' pattern of a run's folder
FORMATS = PIPE.figures["formats"]


wildcard_constraints:
    run=RUN_ID_PATTERN,
    segment=r"\d+",
    study=r"[A-Za-z][A-Za-z0-9_]*",
    fighash=r"[0-9a-f]{10}",
    tablehash=r"[0-9a-f]{10}",
    runshash=r"[0-9a-f]{10}",
    fork=r"at\d+-seed\d+",


def run_settings(wildcards):
    """What the run is; where its data lives and how it is read come from the config in the job, so
    that moving the data reruns nothing (runtime_settings)."""
    return trajectory_settings(PIPE.runs[wildcards.run].settings)


def rank_threads(wildcards):
    """Cores one process of a run occupies: torch's threads plus its DataLoader worker processes."""
    settings = PIPE.runs[wildcards.run].settings
    return settings["threads"] + settings.get("num_workers", 0)


def world_size(wildcards):
    return launch.world_size(PIPE.runs[wildcards.run].settings)


def run_threads(wildcards):
    """Cores a training job occupies: those of each of its ranks."""
    return world_size(wildcards) * rank_threads(wildcards)


def run_gpus(wildcards):
    """GPUs a training job asks for: resources.gpu for each of its ranks."""
    return world_size(wildcards) * PIPE.resources["gpu"]


def for_ranks(value):
    """A resource only the jobs of runs with several ranks ask for (None leaves the key out of the others').
    The keys are the SLURM executor plugin's (its docs/further.md): tasks with mpi -> --ntasks and the job runs
    unwrapped, so that it can srun the ranks; nodes -> --nodes; tasks_per_gpu -> --ntasks-per-gpu, with
    gpu -> --gpus; cpus_per_task -> --cpus-per-task. Locally only gpu and the threads count."""
    return lambda w: value(w) if world_size(w) > 1 else None


RANK_RESOURCES = {
    "tasks": for_ranks(world_size),
    "mpi": for_ranks(lambda w: "srun"),
    "nodes": for_ranks(lambda w: PIPE.resources["nodes"]),
    "cpus_per_task": for_ranks(rank_threads),
    "tasks_per_gpu": for_ranks(lambda w: 1 if PIPE.resources["gpu"] else None),
}


def run_dir(wildcards):
    return paths.run_dir(RESULTS, wildcards.run)


def run_epochs(wildcards):
    return PIPE.runs[wildcards.run].settings["epochs"]


def run_grad_clip(wildcards):
    return PIPE.runs[wildcards.run].settings["grad_clip"]


def trunk_dir(wildcards):
    return paths.run_dir(RESULTS, PIPE.trunk[wildcards.run])


def trunk_w_star(wildcards):
    return paths.w_star(trunk_dir(wildcards))


def reference(wildcards):
    """What the run's reference job is given (jobs.reference_job; its script builds the same from the config)."""
    return reference_job(PIPE, wildcards.run)


def replay(wildcards):
    """What a replay segment's job is given (jobs.replay_job), and the full-batch one's (jobs.full_batch_job)."""
    return replay_job(PIPE, wildcards.run, int(wildcards.segment))


def full_batch(wildcards):
    return full_batch_job(PIPE, wildcards.run, int(wildcards.segment))


def job_field(job, name):
    """A field of the job the builder gives, as a function of wildcards (a rule's param)."""
    return lambda wildcards: getattr(job(wildcards), name)


def segment_files(wildcards, kind="segment"):
    """The replay segments holding this run's steps (kind full_batch: its full-batch gradients): its own,
    or those of the run it is a prefix of."""
    trunk, budget = PIPE.trunk[wildcards.run], run_epochs(wildcards)
    return [
        paths.segment(paths.run_dir(RESULTS, trunk), i, kind)
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


def lolr_source_table(wildcards):
    """The loLR table a lolr schedule follows (its jobs read it: runtime_settings), or nothing."""
    settings = PIPE.runs[wildcards.run].settings
    return [table_path(settings["lolr_source"], "lolr")] if settings["schedule"] == "lolr" else []


def study_of(wildcards):
    study = PIPE.studies[wildcards.study]
    if figure_hash(PIPE, study) != wildcards.fighash:
        raise WorkflowError(f"figure folder {wildcards.study}-{wildcards.fighash} is not the current one")
    return study


def table_path(run_id, table):
    return paths.table(paths.run_dir(RESULTS, run_id), table)


def run_about(run_id):
    """What titles, legends and captions say about a run (describe.about): from what the run is, so that
    moving its data redraws nothing."""
    return about(trajectory_settings(PIPE.runs[run_id].settings))


def run_entries(study, table_names=()):
    """The study's runs as the jobs read them: id, legend label, what to say about it (run_about) and the
    paths of the named tables."""
    return [
        {"run_id": r, "label": study.labels[r], "about": run_about(r), **{t: table_path(r, t) for t in table_names}}
        for r in study.runs
    ]


def figure_tables(wildcards, kind):
    study = study_of(wildcards)
    return [table_path(r, t) for r in study.runs for t in tables(kind)]


def figure_runs(wildcards, kind):
    return run_entries(study_of(wildcards), tables(kind))


def figure_runs_rst(wildcards):
    """The study's runs as an RST table, for the report captions."""
    return runs_rst(run_entries(study_of(wildcards)))


def for_kind(function, kind):
    """function(wildcards, kind) as the function of wildcards a rule takes."""
    return lambda wildcards: function(wildcards, kind)


def with_report(files, **flags):
    """{format: path} as a rule's outputs, the first of PNG, SVG, PDF among them flagged for the report."""
    shown = next(f for f in ("png", "svg", "pdf") if f in files)
    return [report(path, **flags) if f == shown else path for f, path in files.items()]


def figure_outputs(kind):
    files = {f: paths.figure(RESULTS, "{study}", "{fighash}", kind, f) for f in FORMATS}
    labels = {"study": "{study}", "figure": kind}
    return with_report(files, caption=f"../report/{kind}.rst", category="{study}", subcategory=kind, labels=labels)


def overview_outputs():
    files = {f: paths.overview_figure(RESULTS, "{fighash}", f) for f in FORMATS}
    return with_report(files, caption="../report/overview.rst", category="Overview", labels={"figure": "gamma"})


def overview_tables(wildcards):
    return [table_path(r, "epochs") for s in overview_studies(PIPE) for r in s.runs]


def overview_runs(wildcards):
    if wildcards.fighash != overview_hash(PIPE):
        raise WorkflowError(f"overview folder {wildcards.fighash} is not the current one")
    return {s.name: run_entries(s, ["epochs"]) for s in overview_studies(PIPE)}


def study_table(study):
    return paths.study_table(RESULTS, study.name, table_hash(study))


def study_tables_runs(wildcards):
    study = PIPE.studies[wildcards.study]
    if table_hash(study) != wildcards.tablehash:
        raise WorkflowError(f"table {wildcards.study}-{wildcards.tablehash} is not the current one")
    return run_entries(study, ["epochs", "lolr"])


def drift_files():
    """{run id: its drift record}, every run of the config."""
    return {r: paths.drift(paths.run_dir(RESULTS, r)) for r in PIPE.runs}


def all_outputs():
    outs = []
    for run_id in PIPE.runs:
        base = paths.run_dir(RESULTS, run_id)
        outs += [paths.table(base, t) for t in (*RUN_TABLES, "history", *sorted(PIPE.tables.get(run_id, ())))]
        outs.append(paths.drift(base))
    for study in PIPE.studies.values():
        fighash = figure_hash(PIPE, study)
        outs += [paths.figure(RESULTS, study.name, fighash, kind, fmt) for kind in study.figures for fmt in FORMATS]
        outs.append(study_table(study))
    if overview_studies(PIPE):
        outs += [paths.overview_figure(RESULTS, overview_hash(PIPE), fmt) for fmt in FORMATS]
    outs.append(paths.drift_summary(RESULTS, runs_hash(PIPE)))
    return outs
