"""Precision of a run: the weights' dtype, and the context of its training forward passes.

precision bf16 keeps float32 master weights: the optimizer updates them, the checkpoints hold them and the
geometry reads them (float64 sums of float32 vectors, as for float32 runs). Only the training forward pass
runs under bfloat16 autocast (matmuls and convolutions in bfloat16, reductions and the loss in float32).
"""
from __future__ import annotations

import torch


def weight_dtype(precision: str) -> torch.dtype:
    return torch.float32 if precision == "bf16" else getattr(torch, precision)


def training_forward(device: torch.device, precision: str):
    """bfloat16 autocast under precision bf16; a context that does nothing otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
