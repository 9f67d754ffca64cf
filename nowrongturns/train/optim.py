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
    if schedule == "wsd":
        return base * wsd_factor(step, run.epochs * steps_per_epoch, run.warmup_steps, run.decay_fraction,
                                 run.decay_shape)
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


# The decay of a warmup-stable-decay schedule over its progress p in [0, 1) (p = 0 at its first step).
WSD_SHAPES = {
    "linear": lambda p: 1.0 - p,
    "cosine": lambda p: 0.5 * (1.0 + math.cos(math.pi * p)),
    "sqrt": lambda p: 1.0 - math.sqrt(p),  # "1 − sqrt" cool-down
}


def wsd_decay_steps(total: int, decay_fraction: float) -> int:
    return round(decay_fraction * total)


def wsd_factor(step: int, total: int, warmup: int, decay_fraction: float, shape: str) -> float:
    """Warmup-stable-decay: (step + 1)/warmup for the first `warmup` steps, then 1, then over the last
    decay_fraction of the steps the shape's decay. The last step keeps an lr above 0 (p < 1): a step of size 0
    would make w_{T-1} = w* and leave its geometry undefined."""
    decay = wsd_decay_steps(total, decay_fraction)
    if step < warmup:
        return (step + 1) / warmup
    start = total - decay
    if step < start:
        return 1.0
    return WSD_SHAPES[shape]((step - start) / decay)


def check_schedule(run: RunSettings, steps_per_epoch: int) -> None:
    """What the config cannot check before a task knows its steps per epoch: a wsd warm-up and decay that fit."""
    if run.schedule != "wsd":
        return
    total = run.epochs * steps_per_epoch
    decay = wsd_decay_steps(total, run.decay_fraction)
    if run.warmup_steps + decay > total:
        raise ValueError(f"schedule wsd: warmup_steps = {run.warmup_steps} and decay_fraction = {run.decay_fraction} "
                         f"({decay} steps) overlap in the run's {total} steps ({run.epochs} epochs x "
                         f"{steps_per_epoch}); lower warmup_steps or decay_fraction")
