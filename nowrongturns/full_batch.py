"""Full-batch γ: the geometry of ∇L(w_t), the gradient of the whole training objective, at chosen epochs.

The minibatch γ mixes two things: how well the mean gradient points at w*, and the noise around it.
Three full-batch gradients per point (config.figure_kinds.FULL_BATCH_MODES):
  eval               the clean objective: evaluation mode (no dropout, BatchNorm on its running
                     statistics), no augmentation, every training sample once (Task.full_batch_terms);
  train_independent  the objective the minibatches sample: training mode, at the fixed weights w_t, the
                     mean gradient of one epoch's minibatches, their order, crops and dropout masks drawn
                     from a stream of their own, seeded by (seed, epoch, "full_batch");
  train_own_draws    the same on the run's own draws of that epoch: the minibatches that go on to build
                     w*. It keeps their self-inclusion bias (d_t = w_t − w* holds their updates), so its γ
                     is not free of what the minibatch γ carries; train_independent is.
The training-mode passes also give the noise's share of the gradient energy at w_t,
1 − ‖∇F‖² / E‖G‖², with ∇F the mean and E‖G‖² the mean squared norm of the same equal-size minibatch
gradients: in [0, 1] by Jensen's inequality.
All are summed in float64 in a fixed order, so they are reproducible. None moves the trajectory: the
training-mode passes restore the buffers they update (BatchNorm statistics), the RNG states and the
seed they draw from, and the job checks its own replay against the reference checkpoint at the
segment's end.
"""
from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from nowrongturns.config.figure_kinds import FULL_BATCH_MODES as MODES
from nowrongturns.config.settings import RunSettings
from nowrongturns.geometry.metrics import metrics
from nowrongturns.parallel.device import device_name
from nowrongturns.storage.files import read_table, write_parquet
from nowrongturns.tasks.models import in_mode
from nowrongturns.tasks.seeding import derive_seed
from nowrongturns.train.checkpoints import checkpoint_path, load_checkpoint, load_weights, on_reference_device
from nowrongturns.train.drift import buffer_drift, check_drift, relative_drift
from nowrongturns.train.engine import Trainer
from nowrongturns.train.optim import weight_decay_at

log = logging.getLogger("nowrongturns")



@dataclass
class FullBatch:
    loss: float  # the mean loss of the objective
    grad: torch.Tensor  # its gradient, float64, on the weights' device
    # Training modes: the mean over the epoch's minibatches of ‖G_i‖², whose mean G_i is grad (NaN in eval mode).
    minibatch_g_sq: float = math.nan


def independent_seed(seed: int, epoch: int) -> int:
    """The seed of train_independent's draws at an epoch: a stream the run's own draws never use."""
    return derive_seed("full_batch", seed, epoch)


def full_batch_gradient(trainer: Trainer, mode: str, epoch: int | None = None) -> FullBatch:
    """∇L at the trainer's current weights over the training set (mode: one of MODES, see the module).
    epoch: whose minibatches the training modes use (default: the next one the trainer runs)."""
    if mode not in MODES:
        raise ValueError(f"full-batch mode {mode!r}: expected one of {MODES}")
    if mode == "eval":
        return _eval_gradient(trainer)
    epoch = trainer.epoch if epoch is None else epoch
    seed = trainer.settings.seed if mode == "train_own_draws" else independent_seed(trainer.settings.seed, epoch)
    with drawing_from(trainer, seed):
        return _minibatch_mean(trainer, epoch)


def _eval_gradient(trainer: Trainer) -> FullBatch:
    flat = trainer.flat
    acc = torch.zeros(flat.numel, dtype=torch.float64, device=flat.data.device)
    total = torch.zeros((), dtype=torch.float64, device=flat.data.device)
    count = 0
    with in_mode(trainer.model, training=False):
        for loss_sum, n in trainer.task.full_batch_terms():
            flat.zero_grad()
            loss_sum.backward()
            acc += flat.grad.double()
            total += loss_sum.detach().double()
            count += n
    flat.zero_grad()
    return FullBatch(float(total) / count, acc / count)


def _minibatch_mean(trainer: Trainer, epoch: int) -> FullBatch:
    """The mean of the epoch's minibatch gradients at fixed weights, drawn from trainer.settings.seed, and the
    mean of their squared norms. One partition of the training set (the part an epoch visits) into equal
    minibatches, so ‖mean‖² ≤ mean ‖G_i‖²."""
    flat, count = trainer.flat, trainer.steps_per_epoch
    acc = torch.zeros(flat.numel, dtype=torch.float64, device=flat.data.device)
    total = torch.zeros((), dtype=torch.float64, device=flat.data.device)
    sq = torch.zeros((), dtype=torch.float64, device=flat.data.device)
    plan = trainer.plan(epoch)
    with in_mode(trainer.model, training=True):
        for i in range(count):
            if trainer.uses_dropout:  # the masks of the step itself, under the pass's seed
                torch.manual_seed(derive_seed("dropout", trainer.settings.seed, epoch, i))
            flat.zero_grad()
            with trainer.training_precision():  # the objective as the run's steps compute it
                loss = trainer.task.loss(plan, i, epoch)
            loss.backward()
            g = flat.grad.double()
            acc += g
            sq += g @ g
            total += loss.detach().double()
    flat.zero_grad()
    return FullBatch(float(total) / count, acc / count, float(sq) / count)


@contextmanager
def drawing_from(trainer: Trainer, seed: int, restore_buffers: bool = True):
    """Draw data order, augmentation and dropout from `seed` for the block, then give back the RNG states and
    the run's own seed, and (restore_buffers) what a training-mode forward changes: the buffers (BatchNorm
    statistics, step counts)."""
    model, settings = trainer.model, trainer.settings
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()} if restore_buffers else {}
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if trainer.device.type == "cuda" else None
    trainer.reseed(seed)
    try:
        yield
    finally:
        trainer.settings = settings
        trainer.task.settings, trainer.task.seed = settings, settings.seed
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name])
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def sums_against(w: torch.Tensor, grad: torch.Tensor, w_star: torch.Tensor, weight_decay: float = 0.0) -> dict:
    """The float64 sums G·d, ‖G‖², ‖d‖² of d = w − w* (and of G + λw with weight decay λ > 0)."""
    d = w.double() - w_star.to(w.device).double()
    out = {"g_dot_d": float(grad @ d), "g_sq": float(grad @ grad), "d_sq": float(d @ d)}
    if weight_decay:
        g = grad + weight_decay * w.double()
        out.update(wd_g_dot_d=float(g @ d), wd_g_sq=float(g @ g))
    return out


def full_batch_epochs(start: int, end: int, every: int) -> list[int]:
    """The epochs of [start, end) whose start is measured: the segment's first, and every `every`-th."""
    return sorted({start, *(e for e in range(start, end) if e % every == 0)})


def measure_point(trainer: Trainer, targets: dict[str, tuple[torch.Tensor, int]]) -> list[dict]:
    """Rows (one per mode and target) at the trainer's weights, before the epoch trainer.epoch.
    targets: {name: (w*, the budget it ends)}; a target is measured before its budget's end only."""
    epoch, steps_per_epoch = trainer.epoch, trainer.steps_per_epoch
    wd = weight_decay_at(trainer.settings, epoch * steps_per_epoch, steps_per_epoch)
    rows = []
    for mode in MODES:
        fb = full_batch_gradient(trainer, mode)
        for name, (w_star, budget) in targets.items():
            if epoch < budget:
                rows.append({"epoch": epoch, "step": epoch * steps_per_epoch, "mode": mode, "target": str(name),
                             "loss": fb.loss, "minibatch_g_sq": fb.minibatch_g_sq,
                             **sums_against(trainer.flat.data, fb.grad, w_star, wd)})
    return rows


def run_full_batch_segment(settings: RunSettings | dict, run_id: str, run_dir, segment: int, start: int, end: int,
                           targets: dict, every: int, out_path, tolerance: float = 0.0,
                           forks: dict | None = None) -> pd.DataFrame:
    """Replay epochs [start, end) from the reference checkpoint and take the full-batch gradients at the start
    of each epoch of full_batch_epochs, against every target (targets: {budget: w* path}; forks: {name:
    {"path", "budget"}}, as replay.run_replay takes them). The replay must land on the checkpoint at `end`."""
    aims = {str(b): (load_weights(p), b) for b, p in targets.items() if b > start}
    aims.update({name: (load_weights(f["path"]), f["budget"]) for name, f in (forks or {}).items() if f["budget"] > start})

    return side_pass_segment(settings, run_id, run_dir, segment, start, end, full_batch_epochs(start, end, every),
                             lambda trainer: measure_point(trainer, aims), out_path, tolerance,
                             f"full-batch gradients against {list(aims)}")


def side_pass_segment(settings: RunSettings | dict, run_id: str, run_dir, segment: int, start: int, end: int,
                      points: list[int], measure, out_path, tolerance: float, what: str) -> pd.DataFrame:
    """Replay epochs [start, end) from the reference checkpoint, call measure(trainer) at the start of each epoch
    in points (a side pass: it must leave the trajectory as it found it), check that the replay lands on the
    checkpoint at `end`, and write the rows measure returned."""
    state = load_checkpoint(checkpoint_path(run_dir, start), run_id)
    trainer = Trainer(on_reference_device(RunSettings.of(settings), state, run_id), run_id)
    trainer.load_state(state)
    w_start = trainer.flat.data.detach().clone()
    log.info("%s of %s, segment %d (epochs %d-%d) on %s at epochs %s", what, run_id, segment, start, end - 1,
             device_name(trainer.device), points)
    rows = []
    while trainer.epoch < end:
        if trainer.epoch in points:
            rows += measure(trainer)
        trainer.run_epoch()
    ref_state = load_checkpoint(checkpoint_path(run_dir, end), run_id)
    drift = relative_drift(trainer.flat.data, trainer.weights_from_state(ref_state), w_start)
    b_drift, _, worst = buffer_drift(trainer.model, state["model"], ref_state["model"])
    check_drift({f"weights vs the checkpoint of epoch {end}": drift,
                 f"buffers vs the checkpoint of epoch {end}" + (f" (most: {worst})" if worst else ""): b_drift},
                tolerance, f"run {run_id} {what}, segment {segment} (epochs {start}-{end - 1})")
    table = pd.DataFrame(rows)
    write_parquet(table, out_path, metadata={"drift": {"drift": drift, "buffer_drift": b_drift}})
    return table


def full_batch_table(run_id: str, segment_paths: list[str], budget: int, forks: list[str], steps_path,
                     out_path) -> pd.DataFrame:
    """The run's full-batch table: RSI, EB, γ, loLR of ∇L per (epoch, mode, target) before its budget's end,
    target 'w*' (its own) or a fork's id; beside it, the minibatch γ of that epoch against w* (its mean
    over the epoch's steps, from steps.parquet) and, in the training modes, the noise's share of the
    gradient energy at the epoch's start, 1 − ‖∇F‖² / E‖G‖² over the pass's own minibatches."""
    raw = pd.concat([read_table(p)[0] for p in segment_paths], ignore_index=True)
    names = {str(budget): "w*", **{f"{budget}:{f}": f for f in forks}}
    raw = raw[raw["target"].isin(list(names)) & (raw["epoch"] < budget)].copy()
    raw["target"] = raw["target"].map(names)
    m = metrics(raw["g_dot_d"], raw["g_sq"], raw["d_sq"])
    table = raw[["epoch", "step", "mode", "target", "loss"]].assign(run_id=run_id, **m)
    if "wd_g_dot_d" in raw:
        wd = metrics(raw["wd_g_dot_d"], raw["wd_g_sq"], raw["d_sq"])
        table = table.assign(**{f"wd_{k}": wd[k] for k in ("rsi", "eb", "gamma", "lolr")})
    steps, _ = read_table(steps_path)
    per_epoch = steps.groupby("epoch").agg(gamma_minibatch=("gamma", "mean"), g_norm_minibatch=("g_norm", "mean"))
    table = table.merge(per_epoch, left_on="epoch", right_index=True, how="left")
    own = table["target"] == "w*"
    table.loc[~own, ["gamma_minibatch", "g_norm_minibatch"]] = np.nan  # measured against w* only
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN in eval mode, and where every G_i is 0
        table["noise_share"] = 1.0 - raw["g_sq"].to_numpy() / raw["minibatch_g_sq"].to_numpy()
    table["final_epoch"] = table["epoch"] == budget - 1
    first = ["run_id", "epoch", "step", "mode", "target"]
    table = table[first + [c for c in table.columns if c not in first]]
    table = table.sort_values(["target", "mode", "epoch"], kind="stable").reset_index(drop=True)
    write_parquet(table, out_path)
    return table
