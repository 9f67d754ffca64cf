"""What the Snakemake rules ask of the expanded config: each job's inputs, params and resources as functions of
its wildcards, and the files the workflow makes. rules/common.smk builds one Wiring from the config and the rules
name its methods; the logic lives here, where it is tested (tests/test_wiring.py).

Torch-free: Snakemake imports it at start.
"""
from __future__ import annotations

import re

from nowrongturns.config import (
    Pipeline,
    Study,
    figure_hash,
    findings_hash,
    fork_id,
    overview_hash,
    overview_studies,
    runs_hash,
    table_hash,
    trajectory_settings,
)
from nowrongturns.config.describe import about, runs_rst
from nowrongturns.config.figure_kinds import FINDINGS, RUN_TABLES, tables
from nowrongturns.config.jobs import full_batch_job, reference_job, replay_job, sharpness_job
from nowrongturns.config.lolr_source import lolr_table
from nowrongturns.config.settings import RunSettings
from nowrongturns.datasets.catalog import DOWNLOADS
from nowrongturns.storage import paths


class StaleFolder(ValueError):
    """A figure or table folder named by a hash that is not the config's: an old target asked for by name."""


def one_of(run_ids) -> str:
    """A wildcard regex matching exactly these run ids (and nothing when there are none)."""
    return "|".join(re.escape(r) for r in run_ids) or "(?!)"


class Wiring:
    def __init__(self, pipe: Pipeline):
        self.pipe = pipe
        self.results = pipe.results
        self.formats = pipe.figures["formats"]
        # Runs whose trajectory is a prefix of a longer one (the others are trained and replayed themselves).
        self.prefixes = [r for r in pipe.runs if pipe.trunk[r] != r]

    # -- a run -------------------------------------------------------------------------------------
    def settings(self, wildcards) -> dict:
        """What the run is; where its data lives and how it is read come from the config in the job, so
        that moving the data reruns nothing (runtime_settings)."""
        return trajectory_settings(self.pipe.runs[wildcards.run].settings)

    def run_dir(self, wildcards) -> str:
        return paths.run_dir(self.results, wildcards.run)

    def typed(self, wildcards) -> RunSettings:
        return self.pipe.runs[wildcards.run].typed

    def epochs(self, wildcards) -> int:
        return self.typed(wildcards).epochs

    def grad_clip(self, wildcards):
        return self.typed(wildcards).grad_clip

    def trunk_dir_of(self, run_id: str) -> str:
        return paths.run_dir(self.results, self.pipe.trunk[run_id])

    def trunk(self, wildcards) -> str:
        """The run whose reference pass and replay hold this run's (itself, or the longer run it is a prefix of)."""
        return self.pipe.trunk[wildcards.run]

    def trunk_dir(self, wildcards) -> str:
        return self.trunk_dir_of(wildcards.run)

    def trunk_w_star(self, wildcards) -> str:
        return paths.w_star(self.trunk_dir(wildcards))

    def table(self, run_id: str, table: str) -> str:
        return paths.table(paths.run_dir(self.results, run_id), table)

    def lolr_source_table(self, wildcards) -> list[str]:
        """The loLR table a lolr schedule follows (its jobs read it: runtime_settings), or nothing."""
        run = self.typed(wildcards)
        return [lolr_table(self.results, run.lolr_source, run.lolr_target)] if run.schedule == "lolr" else []

    def data_ready(self, wildcards) -> list[str]:
        """The mark of rule fetch_data, for a run named by its data set's published checksums (datasets/ready.py):
        the same input whether the folder is downloaded or placed by hand, so switching reruns nothing."""
        run = self.typed(wildcards)
        published = run.dataset in DOWNLOADS and run.data_fingerprint == DOWNLOADS[run.dataset].identity
        return [paths.published_mark(self.results, run.dataset)] if published else []

    def published_datasets(self) -> list[str]:
        return sorted(self.pipe.fetched.keys() | self.pipe.by_hand.keys())

    # -- what a training job occupies -----------------------------------------------------------------
    def world_size(self, wildcards) -> int:
        return self.typed(wildcards).world_size

    def rank_threads(self, wildcards) -> int:
        """Cores one process of a run occupies: torch's threads plus its DataLoader worker processes."""
        run = self.typed(wildcards)
        return run.threads + run.num_workers

    def threads(self, wildcards) -> int:
        """Cores a training job occupies: those of each of its ranks."""
        return self.world_size(wildcards) * self.rank_threads(wildcards)

    def gpus(self, wildcards) -> int:
        """GPUs a training job asks for: resources.gpu for each of its ranks."""
        return self.world_size(wildcards) * self.pipe.resources["gpu"]

    def rank_resources(self) -> dict:
        """Resources only the jobs of runs with several ranks ask for (None leaves the key out of the others').
        The keys are the SLURM executor plugin's (its docs/further.md): tasks with mpi -> --ntasks and the job
        runs unwrapped, so that it can srun the ranks; nodes -> --nodes; tasks_per_gpu -> --ntasks-per-gpu, with
        gpu -> --gpus; cpus_per_task -> --cpus-per-task. Locally only gpu and the threads count."""
        resources = self.pipe.resources

        def for_ranks(value):
            return lambda w: value(w) if self.world_size(w) > 1 else None

        return {
            "tasks": for_ranks(self.world_size),
            "mpi": for_ranks(lambda w: "srun"),
            "nodes": for_ranks(lambda w: resources["nodes"]),
            "cpus_per_task": for_ranks(self.rank_threads),
            "tasks_per_gpu": for_ranks(lambda w: 1 if resources["gpu"] else None),
        }

    def segment_runtime(self, wildcards) -> int:
        return self.pipe.segment_runtime(wildcards.run, int(wildcards.segment))

    # -- training jobs (jobs.py) ------------------------------------------------------------------------
    def reference(self, wildcards):
        return reference_job(self.pipe, wildcards.run)

    def replay(self, wildcards):
        return replay_job(self.pipe, wildcards.run, int(wildcards.segment))

    def full_batch(self, wildcards):
        return full_batch_job(self.pipe, wildcards.run, int(wildcards.segment))

    def sharpness(self, wildcards):
        return sharpness_job(self.pipe, wildcards.run, int(wildcards.segment))

    @staticmethod
    def job_field(job, name: str):
        """A field of the job a builder gives, as a function of wildcards (a rule's param)."""
        return lambda wildcards: getattr(job(wildcards), name)

    def segment_files(self, wildcards, kind: str = "segment") -> list[str]:
        """The replay segments holding this run's steps (kind full_batch: its full-batch gradients): its own,
        or those of the run it is a prefix of."""
        trunk, budget = self.trunk(wildcards), self.epochs(wildcards)
        return [
            paths.segment(paths.run_dir(self.results, trunk), i, kind)
            for i, (start, _) in enumerate(self.pipe.segments(trunk))
            if start < budget
        ]

    def full_batch_segment_files(self, wildcards) -> list[str]:
        return self.segment_files(wildcards, "full_batch")

    def sharpness_segment_files(self, wildcards) -> list[str]:
        return self.segment_files(wildcards, "sharpness")

    # -- forks --------------------------------------------------------------------------------------
    def forks(self, run_id: str) -> list[tuple[str, dict]]:
        """[(fork id, fork)] of a run, in the order of its settings."""
        return [(fork_id(f), f) for f in self.pipe.runs[run_id].typed.forks]

    def fork_of(self, wildcards) -> dict:
        forks = dict(self.forks(wildcards.run))
        if wildcards.fork not in forks:
            raise ValueError(f"run {wildcards.run} declares no fork {wildcards.fork} (its forks: {list(forks)})")
        return forks[wildcards.fork]

    def fork_dir(self, wildcards) -> str:
        return paths.fork_dir(self.run_dir(wildcards), wildcards.fork)

    def fork_ids(self, wildcards) -> list[str]:
        return [fid for fid, _ in self.forks(wildcards.run)]

    def fork_list(self, wildcards) -> list[dict]:
        return [f for _, f in self.forks(wildcards.run)]

    def fork_w_stars(self, wildcards) -> list[str]:
        """The endpoints w*′ of a run's forks, in the order of fork_ids."""
        run_dir = self.run_dir(wildcards)
        return [paths.w_star(paths.fork_dir(run_dir, fid)) for fid in self.fork_ids(wildcards)]

    def own_w_star(self, wildcards) -> str:
        return paths.w_star(self.run_dir(wildcards))

    # -- figures and tables ----------------------------------------------------------------------------
    def study_of(self, wildcards) -> Study:
        study = self.pipe.studies[wildcards.study]
        if figure_hash(self.pipe, study) != wildcards.fighash:
            raise StaleFolder(f"figure folder {wildcards.study}-{wildcards.fighash} is not the current one")
        return study

    def run_about(self, run_id: str) -> dict:
        """What titles, legends and captions say about a run (describe.about): from what the run is, so that
        moving its data redraws nothing."""
        return about(trajectory_settings(self.pipe.runs[run_id].settings))

    def run_entries(self, study: Study, table_names=()) -> list[dict]:
        """The study's runs as the jobs read them: id, legend label, what to say about it (run_about) and the
        paths of the named tables."""
        return [
            {"run_id": r, "label": study.labels[r], "about": self.run_about(r),
             **{t: self.table(r, t) for t in table_names}}
            for r in study.runs
        ]

    def figure_tables(self, kind: str):
        """The tables a figure of this kind reads, as a function of wildcards."""
        return lambda w: [self.table(r, t) for r in self.study_of(w).runs for t in tables(kind)]

    def figure_runs(self, kind: str):
        return lambda w: self.run_entries(self.study_of(w), tables(kind))

    def figure_runs_rst(self, wildcards) -> str:
        """The study's runs as an RST table, for the report captions."""
        return runs_rst(self.run_entries(self.study_of(wildcards)))

    def compare(self, wildcards):
        return self.pipe.studies[wildcards.study].compare

    def overview_tables(self, wildcards) -> list[str]:
        return [self.table(r, "epochs") for s in overview_studies(self.pipe) for r in s.runs]

    def overview_runs(self, wildcards) -> dict:
        if wildcards.fighash != overview_hash(self.pipe):
            raise StaleFolder(f"overview folder {wildcards.fighash} is not the current one")
        return {s.name: self.run_entries(s, ["epochs"]) for s in overview_studies(self.pipe)}

    def study_table(self, study: Study) -> str:
        return paths.study_table(self.results, study.name, table_hash(study))

    def study_tables_runs(self, wildcards) -> list[dict]:
        study = self.pipe.studies[wildcards.study]
        if table_hash(study) != wildcards.tablehash:
            raise StaleFolder(f"table {wildcards.study}-{wildcards.tablehash} is not the current one")
        return self.run_entries(study, ["epochs", "lolr"])

    def study_tables_inputs(self, wildcards) -> list[str]:
        return [t for run in self.study_tables_runs(wildcards) for t in (run["epochs"], run["lolr"])]

    def study_tables_rst(self, wildcards) -> str:
        return runs_rst(self.study_tables_runs(wildcards))

    def findings_studies(self, wildcards=None) -> list[dict]:
        """Every study, with its runs' tables for the findings' sections and the log folders of the jobs that
        computed them (the run's and, for an epoch budget, its trunk's)."""
        if wildcards is not None and wildcards.findingshash != findings_hash(self.pipe):
            raise StaleFolder(f"findings {wildcards.findingshash} are not the current ones")
        studies = []
        for study in self.pipe.studies.values():
            kinds = [k for k in study.figures if k in FINDINGS]
            runs = self.run_entries(study, sorted({t for k in kinds for t in tables(k)}))
            for run in runs:
                run_dir, trunk_dir = paths.run_dir(self.results, run["run_id"]), self.trunk_dir_of(run["run_id"])
                run["log_dirs"] = sorted({f"{run_dir}/logs", f"{trunk_dir}/logs"})
            studies.append({"name": study.name, "figures": kinds, "runs": runs})
        return studies

    def findings_inputs(self, wildcards) -> list[str]:
        return sorted({run[t] for s in self.findings_studies(wildcards) for run in s["runs"]
                       for k in s["figures"] for t in tables(k)})

    def drift_files(self) -> dict[str, str]:
        """{run id: its drift record}, every run of the config."""
        return {r: paths.drift(paths.run_dir(self.results, r)) for r in self.pipe.runs}

    def all_outputs(self) -> list[str]:
        """Every file the workflow makes for this config: each run's tables, each study's figures and table, the
        overview and the drift summary."""
        pipe, outs = self.pipe, []
        for run_id in pipe.runs:
            base = paths.run_dir(self.results, run_id)
            outs += [paths.table(base, t) for t in (*RUN_TABLES, "history", *sorted(pipe.tables.get(run_id, ())))]
            outs.append(paths.drift(base))
        for study in pipe.studies.values():
            fighash = figure_hash(pipe, study)
            outs += [paths.figure(self.results, study.name, fighash, kind, fmt)
                     for kind in study.figures for fmt in self.formats]
            outs.append(self.study_table(study))
        if overview_studies(pipe):
            outs += [paths.overview_figure(self.results, overview_hash(pipe), fmt) for fmt in self.formats]
        outs.append(paths.drift_summary(self.results, runs_hash(pipe)))
        if any(k in FINDINGS for s in pipe.studies.values() for k in s.figures):
            outs.append(paths.findings(self.results, findings_hash(pipe)))
        return outs
