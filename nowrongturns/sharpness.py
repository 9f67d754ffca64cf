"""Sharpness: the largest eigenvalue λ_max of the training loss's Hessian at chosen epoch starts.

The edge-of-stability literature (Cohen et al. 2021) ties the step size to it: gradient descent on a
quadratic is stable while λ_max < 2/η, and full-batch training tends to raise λ_max until it reaches 2/η.
Here λ_max is estimated by power iteration with Hessian-vector products (double backward) on a fixed
objective: the mean loss over the first `batches` minibatches of one epoch drawn from (seed, "sharpness"),
the same at every point, in evaluation mode (BatchNorm on its running statistics, no dropout), at the
weights w_t of the replay. Power iteration converges to the eigenvalue of largest magnitude, which early in
training can be a negative one; then a second run on H − λ·I (whose largest eigenvalue is λ_max − λ) gives
λ_max (column shifted). The table keeps the residual ‖Hv − λv‖ / |λ| of the last iterate, so an estimate
that has not settled shows.

A side pass like the full-batch gradients: it runs in a job of its own per replay segment, restores what
it touches, and the job checks that its replay lands on the reference checkpoint (drift 0 on CPU).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from nowrongturns.config.settings import RunSettings
from nowrongturns.full_batch import drawing_from, full_batch_epochs, side_pass_segment
from nowrongturns.storage.files import read_table, write_parquet
from nowrongturns.tasks.models import in_mode
from nowrongturns.tasks.seeding import derive_seed, generator
from nowrongturns.train.engine import Trainer
from nowrongturns.train.optim import lr_at

log = logging.getLogger("nowrongturns")


def hessian_vector_product(trainer: Trainer, plan, steps: range, v: torch.Tensor) -> torch.Tensor:
    """H·v of the mean loss over the given steps of the plan (epoch 0), in float64, in the flat layout."""
    params = trainer.flat.params
    out = torch.zeros_like(v)
    # The math kernel of scaled dot-product attention: the fused GPU kernels have no second derivative.
    with sdpa_kernel(SDPBackend.MATH):
        for i in steps:
            out += _hv_term(trainer, plan, i, params, v)
    return out / len(steps)


def _hv_term(trainer: Trainer, plan, i: int, params, v: torch.Tensor) -> torch.Tensor:
    """H_i·v of step i's minibatch loss, by double backward: the gradient of g·v."""
    loss = trainer.task.loss(plan, i, 0)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    g = torch.cat([x.reshape(-1) for x in grads])
    hv = torch.autograd.grad(g @ v.to(g.dtype), params)
    return torch.cat([x.reshape(-1) for x in hv]).double()


def largest_eigenvalue(hvp, n: int, dim: int, seed: int, device) -> tuple[float, float, bool]:
    """The largest (most positive) eigenvalue of the symmetric operator hvp: power iteration, and where it lands
    on a negative eigenvalue λ, power iteration on H − λ·I, whose largest-magnitude eigenvalue is λ_max − λ.
    Returns (λ_max, residual of the last iterate, whether the shift was needed)."""
    lam, residual = power_iteration(hvp, n, dim, seed, device)
    if not lam < 0:
        return lam, residual, False
    top, residual = power_iteration(lambda v: hvp(v) - lam * v, n, dim, seed, device)
    return lam + top, residual * abs(top) / abs(lam + top) if lam + top else float("inf"), True


def power_iteration(hvp, n: int, dim: int, seed: int, device) -> tuple[float, float]:
    """λ of largest magnitude of the operator hvp (float64 vectors of size dim) after n iterations from a
    seeded random start, and the residual ‖Hv − λv‖ / |λ| of the last iterate."""
    v = torch.randn(dim, dtype=torch.float64, generator=generator("sharpness_start", seed)).to(device)
    v /= torch.linalg.vector_norm(v)
    lam, residual = float("nan"), float("nan")
    for _ in range(n):
        hv = hvp(v)
        lam = float(v @ hv)  # the Rayleigh quotient of the unit vector v
        residual = float(torch.linalg.vector_norm(hv - lam * v)) / abs(lam) if lam else float("inf")
        norm = torch.linalg.vector_norm(hv)
        if norm == 0:
            return 0.0, 0.0
        v = hv / norm
    return lam, residual


def sharpness_point(trainer: Trainer, iterations: int, batches: int) -> dict:
    """λ_max at the trainer's current weights (see the module), its residual, the lr in force at this step."""
    seed = trainer.settings.seed
    step = trainer.epoch * trainer.steps_per_epoch
    steps = range(min(batches, trainer.steps_per_epoch))
    with drawing_from(trainer, derive_seed("sharpness", seed)), in_mode(trainer.model, training=False):
        plan = trainer.plan(0)
        lam, residual, shifted = largest_eigenvalue(lambda v: hessian_vector_product(trainer, plan, steps, v),
                                                    iterations, trainer.flat.numel, seed, trainer.flat.data.device)
    lr = lr_at(trainer.settings, step, trainer.steps_per_epoch)
    return {"epoch": trainer.epoch, "step": step, "lambda_max": lam, "residual": residual, "shifted": shifted,
            "iterations": iterations, "batches": len(steps), "lr": lr}


def run_sharpness_segment(settings: RunSettings | dict, run_id: str, run_dir, segment: int, start: int, end: int,
                          every: int, iterations: int, batches: int, out_path, tolerance: float = 0.0) -> pd.DataFrame:
    """Replay epochs [start, end) and estimate λ_max at the start of the segment and of every `every`-th epoch."""
    return side_pass_segment(settings, run_id, run_dir, segment, start, end, full_batch_epochs(start, end, every),
                             lambda trainer: [sharpness_point(trainer, iterations, batches)], out_path, tolerance,
                             f"sharpness ({iterations} power iterations on {batches} minibatches)")


def sharpness_table(run_id: str, segment_paths: list[str], budget: int, lolr_path, out_path) -> pd.DataFrame:
    """Per measured epoch before the budget's end: λ_max, its residual, the lr in force at the epoch's start and
    2/lr, 2/λ_max, and the epoch's median loLR (from lolr.parquet) beside them."""
    raw = pd.concat([read_table(p)[0] for p in segment_paths], ignore_index=True)
    table = raw[raw["epoch"] < budget].sort_values("epoch").reset_index(drop=True)
    with np.errstate(divide="ignore"):
        table["two_over_lr"] = 2.0 / table["lr"]
        table["two_over_lambda"] = 2.0 / table["lambda_max"]
    lolr, _ = read_table(lolr_path)
    table = table.merge(lolr[["epoch", "lolr_median", "final_epoch"]], on="epoch", how="left")
    table.insert(0, "run_id", run_id)
    write_parquet(table, out_path)
    return table
