"""What one training job needs, built in one place from the expanded config: the Snakemake rules (their
inputs and params), the command line and the tests all call these builders, so that `nowrongturns measure`
writes the table the rule `measure_segment` writes.

Torch-free: Snakemake plans with it. The CLI starts the pass a job names (cli.run_job).
"""
from __future__ import annotations

from dataclasses import dataclass

from nowrongturns.config import RUNTIME_KEYS, ConfigError, Pipeline, fork_id, trajectory_settings
from nowrongturns.storage import paths


@dataclass(frozen=True)
class ReferenceJob:
    """Train a run once from its seeded w0, keep checkpoints, publish w0 and w* (rule `reference`)."""

    run_id: str
    settings: dict  # job_settings
    run_dir: str
    checkpoint_every: int
    budgets: list[int]  # the epoch budgets whose w* the pass also checkpoints (its prefix runs and its own)
    w0: str
    w_star: str
    history: str


@dataclass(frozen=True)
class ReplayJob:
    """Replay epochs [start, end) of a run from its checkpoint and record every step's geometry against
    each w* in targets and each fork endpoint in forks (rule `measure_segment`)."""

    run_id: str
    settings: dict
    run_dir: str
    segment: int
    start: int
    end: int
    targets: dict[int, str]  # epoch budget -> its w*: the run's own and its prefix runs' that end after start
    forks: dict[str, dict]  # "<budget>:<fork id>" -> {path, budget}: forks that start before end (forks.fork_name)
    out: str
    tolerance: float
    per_block: bool  # also the per-block sums (measure.per_block)

    @property
    def bounds(self) -> tuple[int, int]:
        return self.start, self.end

    def inputs(self) -> list[str]:
        """The files the job reads beyond its run's checkpoints: every w* it measures against."""
        return [*self.targets.values(), *(fork["path"] for fork in self.forks.values())]


@dataclass(frozen=True)
class FullBatchJob(ReplayJob):
    """Replay the same segment and take the full-batch gradient at every `every`-th epoch start, against the same
    w* and forks (rule `full_batch_segment`)."""

    every: int


@dataclass(frozen=True)
class SharpnessJob(ReplayJob):
    """Replay the same segment and estimate λ_max of the loss's Hessian at every `every`-th epoch start
    (rule `sharpness_segment`). It measures w_t alone: no target is read but the run's own w*, which orders
    it after the reference pass."""

    every: int
    iterations: int
    batches: int

    def inputs(self) -> list[str]:
        return list(self.targets.values())


def trained_run(pipe: Pipeline, run_id: str):
    """The run, if it is one that is trained and replayed itself (not the prefix of a longer run)."""
    if run_id not in pipe.runs:
        raise ConfigError(f"unknown run id {run_id!r}; `nowrongturns runs CONFIG` lists them")
    run = pipe.runs[run_id]
    if pipe.trunk[run_id] != run_id:
        raise ConfigError(f"run {run_id} is the first {run.typed.epochs} epochs of {pipe.trunk[run_id]}: "
                          f"train and replay that run (Snakemake does both)")
    return run


def job_settings(settings: dict) -> dict:
    """What a training job is given: the settings that shape the trajectory, then those that say where the data
    lies and how it is read (RUNTIME_KEYS). What is measured against the run (forks) is left to the builders."""
    return {**trajectory_settings(settings), **{k: v for k, v in settings.items() if k in RUNTIME_KEYS}}


def reference_job(pipe: Pipeline, run_id: str) -> ReferenceJob:
    run = trained_run(pipe, run_id)
    run_dir = paths.run_dir(pipe.results, run_id)
    return ReferenceJob(run_id, job_settings(run.settings), run_dir, pipe.measure["checkpoint_every"],
                        sorted(pipe.budgets[run_id]), paths.w0(run_dir), paths.w_star(run_dir), paths.history(run_dir))


def replay_job(pipe: Pipeline, run_id: str, segment: int) -> ReplayJob:
    run = trained_run(pipe, run_id)
    bounds = pipe.segments(run_id)
    if not 0 <= segment < len(bounds):
        raise ConfigError(f"run {run_id} has segments 0 to {len(bounds) - 1} ({run.typed.epochs} epochs, "
                          f"checkpoint_every {pipe.measure['checkpoint_every']}), not {segment}")
    start, end = bounds[segment]
    run_dir = paths.run_dir(pipe.results, run_id)
    measured = {b: r for b, r in pipe.budgets[run_id].items() if b > start}
    targets = {b: paths.w_star(paths.run_dir(pipe.results, r)) for b, r in measured.items()}
    forks = {
        f"{b}:{fork_id(fork)}": {"path": paths.w_star(paths.fork_dir(paths.run_dir(pipe.results, r), fork_id(fork))),
                                  "budget": b}
        for b, r in measured.items()
        for fork in pipe.runs[r].typed.forks
        if fork["at_epoch"] < end
    }
    return ReplayJob(run_id, job_settings(run.settings), run_dir, segment, start, end, targets, forks,
                     paths.segment(run_dir, segment), pipe.measure["drift_tolerance"], pipe.measure["per_block"])


def full_batch_job(pipe: Pipeline, run_id: str, segment: int) -> FullBatchJob:
    replay = replay_job(pipe, run_id, segment)
    fields = {**vars(replay), "out": paths.segment(replay.run_dir, segment, "full_batch"), "per_block": False}
    return FullBatchJob(**fields, every=pipe.measure["full_batch_every"])



def sharpness_job(pipe: Pipeline, run_id: str, segment: int) -> SharpnessJob:
    replay = replay_job(pipe, run_id, segment)
    spec = pipe.measure["sharpness"]
    fields = {**vars(replay), "forks": {}, "out": paths.segment(replay.run_dir, segment, "sharpness"),
              "per_block": False}
    return SharpnessJob(**fields, every=spec["every_epochs"], iterations=spec["iterations"], batches=spec["batches"])
