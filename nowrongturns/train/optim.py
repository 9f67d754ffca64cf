"""Optimizers and learning-rate schedules; the lr is a pure function of the global step."""
from __future__ import annotations

import math

import torch

from nowrongturns.config.describe import lr_in_force


def build_optimizer(params, settings: dict) -> torch.optim.Optimizer:
    # The lr here is a placeholder: every step sets its own (lr_at); a lolr schedule has no `lr` setting.
    name, wd = settings["optimizer"], settings["weight_decay"]
    lr = settings["lolr_values"][0] if settings["schedule"] == "lolr" else settings["lr"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=settings["momentum"], nesterov=name == "nesterov",
                               weight_decay=wd)
    betas = (settings["beta1"], settings["beta2"])
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}")


LOW_EPOCH_FACTOR = 0.1  # the Vaihingen recipe's last epoch: lr/10 and weight decay/10


def _in_low_epoch(settings: dict, step: int, steps_per_epoch: int) -> bool:
    return settings.get("final_low_lr_epoch", False) and step // steps_per_epoch == settings["epochs"] - 1


def lr_at(settings: dict, step: int, steps_per_epoch: int) -> float:
    """The learning rate in force at global step `step` (0-based)."""
    if settings["schedule"] == "lolr":  # per epoch, from the source run's loLR (lolr_schedule.with_schedule)
        return settings["lolr_values"][step // steps_per_epoch]
    base = lr_in_force(settings)
    if _in_low_epoch(settings, step, steps_per_epoch):
        base *= LOW_EPOCH_FACTOR
    schedule = settings["schedule"]
    if schedule == "constant":
        return base
    if schedule == "step":
        return base * settings["step_gamma"] ** (step // steps_per_epoch // settings["step_epochs"])
    if schedule == "cosine":
        warm = settings["warmup_epochs"] * steps_per_epoch
        if step < warm:
            return base * (step + 1) / warm
        total = settings["epochs"] * steps_per_epoch
        progress = (step - warm) / max(1, total - warm)
        return base * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}")


def weight_decay_at(settings: dict, step: int, steps_per_epoch: int) -> float:
    """The weight decay in force at global step `step`."""
    wd = settings["weight_decay"]
    return wd * LOW_EPOCH_FACTOR if _in_low_epoch(settings, step, steps_per_epoch) else wd
