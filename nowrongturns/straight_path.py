"""The straight path from a point of the trajectory to w*: w(α) = (1 − α)·a + α·w*, α ∈ [0, 1].

Goodfellow et al. (2015) and Lucas et al. (2021) look at the loss along the line from w0 to the solution;
"No Wrong Turns" cites it as the other view of the same simple geometry. At path_points evenly spaced α,
in evaluation mode: the full-batch training loss, the validation metrics, and the full-batch gradient's
RSI, EB, γ and loLR toward w* (d = w(α) − w* = (1 − α)(a − w*): γ is how well −∇L points along the path).

BatchNorm's running statistics shape the eval-mode loss at every point, and a point between a and w*
has statistics of its own. measure.path_bn says how they are set:
  recompute    (default) re-estimated at each w(α) as the cumulative mean over a fixed set of training
               minibatches (path_bn_batches of one epoch drawn from (seed, "path_bn"), training mode, no
               gradient), as torch.optim.swa_utils.update_bn does; the same minibatches at every point
               and on every path;
  interpolate  mixed like the weights, (1 − α)·stats(a) + α·stats(w*): cheaper, but statistics no network
               on the path has, which can raise the loss in the middle by themselves.
Other floating-point buffers are interpolated; integer buffers take w*'s. The table says which was used
(bn_statistics: recompute, interpolate or none, for a model without BatchNorm).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

from nowrongturns.config.settings import RunSettings
from nowrongturns.full_batch import drawing_from, full_batch_gradient, sums_against
from nowrongturns.geometry.metrics import metrics
from nowrongturns.parallel.device import device_name
from nowrongturns.storage.files import write_parquet
from nowrongturns.tasks.models import in_mode
from nowrongturns.tasks.seeding import derive_seed
from nowrongturns.train.checkpoints import (
    checkpoint_at_or_before,
    checkpoint_path,
    load_checkpoint,
    load_weights,
    on_reference_device,
)
from nowrongturns.train.engine import Trainer

log = logging.getLogger("nowrongturns")

# A rise along the path smaller than this share of the loss's range counts as float noise, not a bump.
MONOTONE_RTOL = 1e-6


def alphas(points: int) -> np.ndarray:
    if points < 2:
        raise ValueError(f"measure.path_points = {points}: a path needs at least 2 points (α = 0 and 1)")
    return np.linspace(0.0, 1.0, points)


def largest_bump(losses) -> float:
    """The largest rise of the loss along the path: max over α of L(α) − min over α' ≤ α of L(α') (0 when
    the loss never rises)."""
    losses = np.asarray(losses, dtype=np.float64)
    return float(np.max(losses - np.minimum.accumulate(losses)))


def is_monotone(losses) -> bool:
    """No rise along the path beyond MONOTONE_RTOL of the loss's range."""
    losses = np.asarray(losses, dtype=np.float64)
    span = float(np.max(losses) - np.min(losses))
    return largest_bump(losses) <= MONOTONE_RTOL * span


def _set_point(trainer: Trainer, a: torch.Tensor, b: torch.Tensor, bufs_a: dict, bufs_b: dict, alpha: float) -> None:
    with torch.no_grad():
        w = (1.0 - alpha) * a.double() + alpha * b.double()  # exact at both ends
        trainer.flat.data.copy_(w.to(trainer.flat.data.dtype))
        for name, buf in trainer.model.named_buffers():
            if name not in bufs_b:
                continue  # not state (recomputed)
            if buf.is_floating_point():
                mixed = (1.0 - alpha) * bufs_a[name].double() + alpha * bufs_b[name].double()
                buf.copy_(mixed.to(buf.dtype))
            else:
                buf.copy_(bufs_b[name])


BN_MODES = ("recompute", "interpolate")


def batchnorm_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def recompute_bn_statistics(trainer: Trainer, batches: int) -> None:
    """Reset every BatchNorm layer's running statistics and re-estimate them at the current weights: their
    cumulative mean over the first `batches` minibatches (at most one epoch's) of a fixed stream."""
    layers = batchnorm_layers(trainer.model)
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # a cumulative mean, not an exponential one
    with drawing_from(trainer, derive_seed("path_bn", trainer.settings.seed), restore_buffers=False), \
            torch.no_grad(), in_mode(trainer.model, training=True):
        plan = trainer.plan(0)
        for i in range(min(batches, trainer.steps_per_epoch)):
            if trainer.uses_dropout:
                torch.manual_seed(derive_seed("dropout", trainer.settings.seed, 0, i))
            trainer.task.loss(plan, i, 0)
    for m, momentum in zip(layers, momenta, strict=True):
        m.momentum = momentum


def run_straight_path(settings: RunSettings | dict, run_id: str, trunk_id: str, trunk_dir, from_epochs, points: int,
                      w_star_path, out_path, path_bn: str = "recompute", path_bn_batches: int = 32) -> pd.DataFrame:
    """One path from w_t to w* per t in from_epochs (those before the budget). w_t is the reference's
    checkpoint at t, or replayed to t from the checkpoint before it. path_bn: how BatchNorm statistics are set
    at each point (the module says)."""
    if path_bn not in BN_MODES:
        raise ValueError(f"measure.path_bn = {path_bn!r}: expected one of {BN_MODES}")
    run = RunSettings.of(settings)
    budget = run.epochs
    grid = alphas(points)
    starts = sorted(t for t in from_epochs if t < budget)
    end_state = load_checkpoint(checkpoint_path(trunk_dir, budget), trunk_id)
    trainer = Trainer(on_reference_device(run, end_state, run_id), run_id)
    w_star = load_weights(w_star_path).to(trainer.device)
    b = trainer.weights_from_state(end_state)
    if not torch.equal(b, w_star.to(b.dtype)):
        raise ValueError(f"{w_star_path} is not the weights of {trunk_id}'s checkpoint of epoch {budget}: "
                         f"rerun its reference pass")
    bufs_b = {n: end_state["model"][n].to(trainer.device) for n, _ in trainer.model.named_buffers()
              if n in end_state["model"]}
    bn = path_bn if batchnorm_layers(trainer.model) else "none"
    log.info("straight paths of %s on %s: from epochs %s to w*, %d points each, BatchNorm statistics: %s", run_id,
             device_name(trainer.device), starts, points, bn)
    rows, fresh = [], True
    for t in starts:
        c = checkpoint_at_or_before(trunk_dir, trunk_id, t)
        if fresh or trainer.epoch > t or c > trainer.epoch:  # else: go on from where the last path started
            trainer.load_state(load_checkpoint(checkpoint_path(trunk_dir, c), trunk_id))
            fresh = False
        trainer.train(t)
        a = trainer.flat.data.detach().clone()
        bufs_a = {n: buf.detach().clone() for n, buf in trainer.model.named_buffers() if n in bufs_b}
        for alpha in grid:
            _set_point(trainer, a, b, bufs_a, bufs_b, float(alpha))
            if bn == "recompute":
                recompute_bn_statistics(trainer, path_bn_batches)
            fb = full_batch_gradient(trainer, "eval")
            sums = sums_against(trainer.flat.data, fb.grad, w_star)
            geometry = {k: float(v) for k, v in metrics(sums["g_dot_d"], sums["g_sq"], sums["d_sq"]).items()}
            rows.append({"from_epoch": t, "alpha": float(alpha), "train_loss": fb.loss, **trainer.task.evaluate(),
                         **geometry})
        _set_point(trainer, a, b, bufs_a, bufs_b, 0.0)  # back on the trajectory, to go on to the next t
    table = pd.DataFrame(rows)
    table.insert(0, "run_id", run_id)
    table["bn_statistics"] = bn
    summary = table.groupby("from_epoch")["train_loss"].agg(monotone=is_monotone, max_bump=largest_bump)
    table = table.merge(summary, left_on="from_epoch", right_index=True)
    write_parquet(table, out_path)
    return table
