"""Full-batch γ: the geometry of ∇L(w_t), the gradient of the whole training objective, at chosen epochs.

The minibatch γ mixes two things: how well the mean gradient points at w*, and the noise around it.
Here the noise is gone. Two full-batch gradients per point:
  eval   the clean objective: evaluation mode (no dropout, BatchNorm on its running statistics), no
         augmentation, every training sample once (Task.full_batch_terms);
  train  the objective as the coming epoch's minibatches see it: training mode, the epoch's own order,
         crops and dropout masks, at the fixed weights w_t (the mean of its minibatch gradients).
Both are summed in float64 in a fixed order, so they are reproducible. Neither moves the trajectory:
the training-mode pass restores the buffers it updates (BatchNorm statistics) and the RNG states it
draws from, and the job checks its own replay against the reference checkpoint at the segment's end.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

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

MODES = ("eval", "train")


@dataclass
class FullBatch:
    loss: float  # the mean loss of the objective
    grad: torch.Tensor  # its gradient, float64, on the weights' device


def full_batch_gradient(trainer: Trainer, mode: str, epoch: int | None = None) -> FullBatch:
    """∇L at the trainer's current weights over the training set (mode: eval or train, see the module).
    epoch: whose minibatches the train mode uses (default: the next one the trainer runs)."""
    if mode not in MODES:
        raise ValueError(f"full-batch mode {mode!r}: expected one of {MODES}")
    model, flat = trainer.model, trainer.flat
    acc = torch.zeros(flat.numel, dtype=torch.float64, device=flat.data.device)
    total = torch.zeros((), dtype=torch.float64, device=flat.data.device)
    if mode == "eval":
        count = 0
        with in_mode(model, training=False):
            for loss_sum, n in trainer.task.full_batch_terms():
                flat.zero_grad()
                loss_sum.backward()
                acc += flat.grad.double()
                total += loss_sum.detach().double()
                count += n
    else:
        epoch = trainer.epoch if epoch is None else epoch
        saved = _Untouched(trainer)
        plan = trainer.plan(epoch)
        count = trainer.steps_per_epoch
        with in_mode(model, training=True):
            for i in range(count):
                if trainer.uses_dropout:  # the masks of the step itself
                    torch.manual_seed(derive_seed("dropout", trainer.settings.seed, epoch, i))
                flat.zero_grad()
                loss = trainer.task.loss(plan, i, epoch)
                loss.backward()
                acc += flat.grad.double()
                total += loss.detach().double()
        saved.restore()
    flat.zero_grad()
    return FullBatch(float(total) / count, acc / count)


class _Untouched:
    """The buffers (BatchNorm statistics, step counts) and RNG states a training-mode forward changes."""

    def __init__(self, trainer: Trainer):
        self.model = trainer.model
        self.buffers = {name: b.detach().clone() for name, b in self.model.named_buffers()}
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if trainer.device.type == "cuda" else None

    def restore(self) -> None:
        with torch.no_grad():
            for name, b in self.model.named_buffers():
                b.copy_(self.buffers[name])
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)


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
                             "loss": fb.loss, **sums_against(trainer.flat.data, fb.grad, w_star, wd)})
    return rows


def run_full_batch_segment(settings: RunSettings | dict, run_id: str, run_dir, segment: int, start: int, end: int,
                           targets: dict, every: int, out_path, tolerance: float = 0.0,
                           forks: dict | None = None) -> pd.DataFrame:
    """Replay epochs [start, end) from the reference checkpoint and take the full-batch gradients at the start
    of each epoch of full_batch_epochs, against every target (targets: {budget: w* path}; forks: {name:
    {"path", "budget"}}, as replay.run_replay takes them). The replay must land on the checkpoint at `end`."""
    state = load_checkpoint(checkpoint_path(run_dir, start), run_id)
    trainer = Trainer(on_reference_device(RunSettings.of(settings), state, run_id), run_id)
    trainer.load_state(state)
    w_start = trainer.flat.data.detach().clone()
    aims = {str(b): (load_weights(p), b) for b, p in targets.items() if b > start}
    aims.update({name: (load_weights(f["path"]), f["budget"]) for name, f in (forks or {}).items() if f["budget"] > start})
    points = full_batch_epochs(start, end, every)
    log.info("full-batch gradients of %s, segment %d (epochs %d-%d) on %s at epochs %s, against %s",
             run_id, segment, start, end - 1, device_name(trainer.device), points, list(aims))
    rows = []
    while trainer.epoch < end:
        if trainer.epoch in points:
            rows += measure_point(trainer, aims)
        trainer.run_epoch()
    ref_state = load_checkpoint(checkpoint_path(run_dir, end), run_id)
    drift = relative_drift(trainer.flat.data, trainer.weights_from_state(ref_state), w_start)
    b_drift, _, worst = buffer_drift(trainer.model, state["model"], ref_state["model"])
    check_drift({f"weights vs the checkpoint of epoch {end}": drift,
                 f"buffers vs the checkpoint of epoch {end}" + (f" (most: {worst})" if worst else ""): b_drift},
                tolerance, f"run {run_id} full-batch segment {segment} (epochs {start}-{end - 1})")
    table = pd.DataFrame(rows)
    write_parquet(table, out_path, metadata={"drift": {"drift": drift, "buffer_drift": b_drift}})
    return table


def full_batch_table(run_id: str, segment_paths: list[str], budget: int, forks: list[str], steps_path,
                     out_path) -> pd.DataFrame:
    """The run's full-batch table: RSI, EB, γ, loLR of ∇L per (epoch, mode, target) before its budget's end,
    target 'w*' (its own) or a fork's id; beside it, the minibatch γ of that epoch against w* (its mean
    over the epoch's steps, from steps.parquet) and the share of the full-batch γ that noise takes,
    1 − γ_minibatch / γ_full."""
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
    with np.errstate(divide="ignore", invalid="ignore"):
        table["noise_share"] = 1.0 - table["gamma_minibatch"] / table["gamma"]
    table["final_epoch"] = table["epoch"] == budget - 1
    first = ["run_id", "epoch", "step", "mode", "target"]
    table = table[first + [c for c in table.columns if c not in first]]
    table = table.sort_values(["target", "mode", "epoch"], kind="stable").reset_index(drop=True)
    write_parquet(table, out_path)
    return table
