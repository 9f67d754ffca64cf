"""The reference pass: train once from the seeded w0, keep checkpoints, publish w0 and w* = w_T.

Resume: a pass killed at any point and started again continues from its latest
checkpoint, and its w* is bitwise identical to an uninterrupted run on CPU.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch

from . import distributed, launch, paths
from .engine import Trainer, device_name, state_weights
from .io import load_tensors, save_tensors, write_parquet
from .run_lock import exclusive, lock_path
from .settings import RunSettings

log = logging.getLogger("nowrongturns")


def checkpoint_epochs(epochs: int, every: int) -> list[int]:
    """Epochs at which a checkpoint is kept: 0 (w0), every `every` epochs, and the last (w*)."""
    return sorted({0, epochs, *range(every, epochs, every)})


def checkpoint_dir(run_dir) -> Path:
    return Path(paths.checkpoint_dir(str(run_dir)))


def checkpoint_path(run_dir, epoch: int) -> Path:
    return Path(paths.checkpoint(str(run_dir), epoch))


def save_checkpoint(trainer: Trainer, path: Path) -> None:
    save_tensors(trainer.state(), path)


def load_checkpoint(path: Path, run_id: str) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"missing checkpoint {path}: rerun the reference pass (snakemake -R reference)")
    state = load_tensors(path, weights_only=False)  # RNG states hold numpy arrays
    if state["run_id"] != run_id or state["torch_version"] != torch.__version__:
        raise RuntimeError(
            f"checkpoint {path} belongs to run {state['run_id']} (torch {state['torch_version']}), "
            f"not to run {run_id} (torch {torch.__version__}); delete it to recompute"
        )
    return state


def existing_checkpoints(run_dir) -> dict[int, Path]:
    found = {}
    for path in checkpoint_dir(run_dir).glob("epoch_*.pt"):
        found[int(path.stem.split("_")[1])] = path
    return found


def checkpoint_at_or_before(run_dir, run_id: str, epoch: int) -> int:
    """The latest epoch at or before `epoch` with a reference checkpoint of the run."""
    found = [e for e in existing_checkpoints(run_dir) if e <= epoch]
    if not found:
        raise FileNotFoundError(f"no checkpoint of run {run_id} at or before epoch {epoch} in "
                                f"{checkpoint_dir(run_dir)}: rerun its reference pass")
    return max(found)


def resume_point(needed: list[int], existing: dict[int, Path]) -> int | None:
    """Latest checkpoint at or before the first missing one; None means start from w0."""
    missing = [e for e in needed if e not in existing]
    if not missing:
        return needed[-1]
    candidates = [e for e in existing if e <= missing[0]]
    return max(candidates) if candidates else None


def save_weights(run_id: str, epoch: int, w: torch.Tensor, path) -> None:
    """A flat weight vector (w0 or w*), small enough for the replay to load on its own."""
    save_tensors({"run_id": run_id, "epoch": epoch, "w": w.detach().cpu().clone()}, path)


def load_weights(path) -> torch.Tensor:
    return load_tensors(path)["w"]


def run_reference(settings: RunSettings | dict, run_id: str, run_dir, checkpoint_every: int,
                  w0_path, w_star_path, history_path, budgets=(), mpi: str | None = None) -> None:
    """budgets: shorter epoch budgets whose trajectories are prefixes of this run's: their w* are
    checkpointed too (see extract_prefix). One process at a time per run (run_lock); with world_size > 1
    that process starts the ranks (launch.py; mpi: the launcher under SLURM, srun by default)."""
    run = RunSettings.of(settings)
    with exclusive(lock_path(run_dir, "reference"), f"the reference pass of run {run_id}"):
        args = {"settings": run, "run_id": run_id, "run_dir": str(run_dir), "checkpoint_every": checkpoint_every,
                "w0_path": str(w0_path), "w_star_path": str(w_star_path), "history_path": str(history_path),
                "budgets": sorted(budgets)}
        if launch.needs_ranks(run):
            launch.ranks("reference", {**args, "settings": run.to_dict()}, run, run_dir, "reference", mpi)
        else:
            train_reference(**args)


def train_reference(settings: RunSettings | dict, run_id, run_dir, checkpoint_every, w0_path, w_star_path,
                    history_path, budgets):
    """The reference pass in this process (one of the ranks, if several): rank 0 writes every file."""
    run = RunSettings.of(settings)  # a rank's spec gives a dict
    epochs = run.epochs
    needed = sorted(set(checkpoint_epochs(epochs, checkpoint_every)) | {b for b in budgets if 0 < b < epochs})
    trainer = Trainer(run, run_id)
    main = trainer.group.is_main
    log.info("reference pass for %s on %s: %d epochs x %d steps, %d trainable parameters",
             run_id, device_name(trainer.device), epochs, trainer.steps_per_epoch, trainer.flat.numel)
    # Rank 0's look at the checkpoints decides for every rank, before it writes any.
    start = distributed.broadcast(resume_point(needed, existing_checkpoints(run_dir)))
    if start is None:
        if main:
            save_checkpoint(trainer, checkpoint_path(run_dir, 0))
    else:
        trainer.load_state(load_checkpoint(checkpoint_path(run_dir, start), run_id))
        log.info("resuming from the checkpoint of epoch %d", start)
    distributed.check_same(trainer.flat.data, f"run {run_id}: the weights at epoch {trainer.epoch}")

    def keep(t: Trainer) -> None:
        if main and t.epoch in needed:
            save_checkpoint(t, checkpoint_path(run_dir, t.epoch))

    trainer.train(epochs, evaluate=True, on_epoch_end=keep)
    if not main:
        return
    w0_flat = trainer.weights_from_state(load_checkpoint(checkpoint_path(run_dir, 0), run_id)).cpu()
    save_weights(run_id, 0, w0_flat, w0_path)
    save_weights(run_id, trainer.epoch, trainer.flat.data, w_star_path)
    write_parquet(pd.DataFrame(trainer.history).assign(run_id=run_id), history_path)
    log.info("w* written: ‖w* − w0‖ = %.6g", float((trainer.flat.data.cpu().double() - w0_flat.double()).norm()))


def extract_prefix(trunk_id: str, trunk_dir, budget: int, run_id: str, w0_path, w_star_path, history_path) -> None:
    """Publish a shorter budget's reference from the longer run it is a prefix of: w* = w at `budget`."""
    end = load_checkpoint(checkpoint_path(trunk_dir, budget), trunk_id)
    start = load_checkpoint(checkpoint_path(trunk_dir, 0), trunk_id)
    save_weights(run_id, 0, state_weights(start), w0_path)
    save_weights(run_id, budget, state_weights(end), w_star_path)
    history = pd.DataFrame(end["history"]).assign(run_id=run_id)
    write_parquet(history[history["epoch"] < budget], history_path)
    log.info("reference of %s = the first %d epochs of %s", run_id, budget, trunk_id)
