"""Optimizers and learning-rate schedules; the lr is a pure function of the global step."""
from __future__ import annotations

import math

import torch

from nowrongturns.config.describe import lr_in_force
from nowrongturns.config.settings import RunSettings


def build_optimizer(params, run: RunSettings) -> torch.optim.Optimizer:
    # The lr here is a placeholder: every step sets its own (lr_at); a lolr schedule has no `lr` setting.
    name, wd = run.optimizer, run.weight_decay
    lr = run.lolr_values[0] if run.schedule == "lolr" else run.lr
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=run.momentum, nesterov=name == "nesterov", weight_decay=wd)
    betas = (run.beta1, run.beta2)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}")


LOW_EPOCH_FACTOR = 0.1  # the Vaihingen recipe's last epoch: lr/10 and weight decay/10


def _in_low_epoch(run: RunSettings, step: int, steps_per_epoch: int) -> bool:
    return run.final_low_lr_epoch and step // steps_per_epoch == run.epochs - 1


def lr_at(run: RunSettings, step: int, steps_per_epoch: int) -> float:
    """The learning rate in force at global step `step` (0-based)."""
    if run.schedule == "lolr":  # per epoch, from the source run's loLR (lolr_schedule.with_schedule)
        return run.lolr_values[step // steps_per_epoch]
    base = lr_in_force(run)
    if _in_low_epoch(run, step, steps_per_epoch):
        base *= LOW_EPOCH_FACTOR
    schedule = run.schedule
    if schedule == "constant":
        return base
    if schedule == "step":
        return base * run.step_gamma ** (step // steps_per_epoch // run.step_epochs)
    if schedule == "cosine":
        warm = run.warmup_epochs * steps_per_epoch
        if step < warm:
            return base * (step + 1) / warm
        total = run.epochs * steps_per_epoch
        progress = (step - warm) / max(1, total - warm)
        return base * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}")


def weight_decay_at(run: RunSettings, step: int, steps_per_epoch: int) -> float:
    """The weight decay in force at global step `step`."""
    wd = run.weight_decay
    return wd * LOW_EPOCH_FACTOR if _in_low_epoch(run, step, steps_per_epoch) else wd
