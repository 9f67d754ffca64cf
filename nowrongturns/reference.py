"""The reference pass: train once from the seeded w0, keep checkpoints, publish w0 and w* = w_T.

Resume: a pass killed at any point and started again continues from its latest
checkpoint, and its w* is bitwise identical to an uninterrupted run on CPU.
"""
from __future__ import annotations

import logging

import pandas as pd

from nowrongturns.config.settings import RunSettings
from nowrongturns.parallel import distributed, launch
from nowrongturns.parallel.device import device_name
from nowrongturns.storage.files import write_parquet
from nowrongturns.storage.run_lock import exclusive, lock_path
from nowrongturns.train.checkpoints import (
    checkpoint_epochs,
    checkpoint_path,
    existing_checkpoints,
    load_checkpoint,
    resume_point,
    save_checkpoint,
    save_weights,
    state_weights,
)
from nowrongturns.train.engine import Trainer

log = logging.getLogger("nowrongturns")


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
