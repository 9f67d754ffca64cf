"""Per-step sums of the path geometry, accumulated during the replay without host reads.

Accuracy: w_t is widened to float64 (exact) and d = w_t − w* formed there, never by
expanding ‖w‖² − 2w·w* + ‖w*‖² (useless near w*: relative errors of 23–174 were
measured). G + λw is formed directly too (it vanishes where weight decay balances the
gradient). All sums are float64. metrics.py turns the sums into RSI, EB, γ, loLR.

Three backends compute the same sums, each with no host read inside a step:
  * fused_cpu (CPU): a Numba kernel, one pass over memory per step and target (fused_cpu.py);
  * triton (GPU): one Triton pass per step over all targets, block sums then a fixed-order final
    sum into device buffers (triton_sums.py);
  * gram (any torch device, the fallback where Triton cannot run): one float64 Gram matrix per
    step (gram_torch.py).
They agree to float64 rounding (tests/test_geometry.py, tests/test_triton_sums.py).

One replay can measure against several final points at once: the w* of each epoch
budget whose trajectory is a prefix of this one (constant or step schedules). Each
target j is reported for the first limits[j] rows only.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from nowrongturns.geometry.blocks import BlockedSums, sum_blocks

log = logging.getLogger("nowrongturns")

# The per-target sums recorded per block (with the shared ‖G_b‖²): enough for each block's RSI, EB, γ.
BLOCK_PER = ("g_dot_d", "d_sq")


def block_column(sum_name: str, block: str) -> str:
    """The raw column of one block's sum: g_dot_d#layer1.0.conv1 (then @target for per-target sums)."""
    return f"{sum_name}#{block}"


class GeometryRecorder:
    """Per step k: before_step(k) with G_t in the gradient buffer, before clipping and the optimizer
    step; after_step(k) after it. The weights must not change between after_step(k) and
    before_step(k + 1) (the CPU backend measures step k's update in step k + 1's pass)."""

    def __init__(self, flat, w_stars, n_steps: int, weight_decay: float = 0.0, limits=None, names=None,
                 backend: str = "auto", chunk: int | None = None, combine=None, blocks=None):
        """flat: anything with the flat .data and .grad (FlatParams, or a rank's Shard of it, whose sums are
        that rank's share); combine: {name: array} -> the sums over every rank (distributed.sum_over_ranks);
        blocks: parameter blocks (blocks.parameter_blocks) whose own sums are recorded too, from the same pass."""
        self.combine = combine
        w_stars = [w_stars] if isinstance(w_stars, torch.Tensor) else list(w_stars)
        self.wd = float(weight_decay)
        self.k = len(w_stars)
        self.n_steps = n_steps
        self.limits = list(limits) if limits is not None else [n_steps] * self.k
        self.names = [str(j) for j in (names if names is not None else range(self.k))]
        device = flat.data.device
        backend = _resolve_backend(backend, device, self.k)
        if backend == "fused_cpu":
            from nowrongturns.geometry.fused_cpu import FusedCpuSums  # Numba: imported only where a replay runs on CPU

            def make(f, stars):
                return FusedCpuSums(f, stars, n_steps, bool(self.wd))
        elif backend == "triton":
            from nowrongturns.geometry.triton_sums import TritonSums

            def make(f, stars):
                return TritonSums(f, stars, n_steps, bool(self.wd))
        elif backend == "gram":
            from nowrongturns.geometry.gram_torch import GramSums, default_chunk

            def make(f, stars):
                return GramSums(f, stars, n_steps, bool(self.wd), chunk or default_chunk(device))
        else:
            raise ValueError(f"unknown geometry backend {backend!r} (fused_cpu, triton, gram or auto)")
        self.blocks = list(blocks or [])
        if self.blocks and backend == "triton":  # the blocks from the same two launches a step
            from nowrongturns.geometry.triton_sums import BlockedTritonSums

            self.backend = BlockedTritonSums(flat, w_stars, n_steps, bool(self.wd),
                                             [(b.start, b.end) for b in self.blocks])
        elif self.blocks:
            self.backend = BlockedSums(make, flat, w_stars, self.blocks)
        else:
            self.backend = make(flat, w_stars)
        self.loss = np.full(n_steps, np.nan)
        shared = ["loss", "g_sq", "u_sq"] + (["wd_g_sq"] if self.wd else [])
        per = ["g_dot_d", "d_sq", "u_dot_d"] + (["wd_g_dot_d"] if self.wd else [])
        self.columns = shared + [f"{c}@{name}" for name in self.names for c in per]
        # Per block: ‖G_b‖², and per target G_b·d_b and ‖d_b‖² (block_column names them).
        self.columns += [block_column("g_sq", b.name) for b in self.blocks]
        self.columns += [f"{block_column(c, b.name)}@{name}" for name in self.names for b in self.blocks
                         for c in BLOCK_PER]

    def before_step(self, k: int, weight_decay: float | None = None) -> None:
        """weight_decay: the λ in force at this step (schedules may change it); default the run's."""
        self.backend.before(k, self.wd if weight_decay is None else float(weight_decay))

    def after_step(self, k: int) -> None:
        self.backend.after(k)

    def record_losses(self, first_row: int, values) -> None:
        """The minibatch losses of rows first_row.., as the engine reads them once per epoch."""
        self.loss[first_row:first_row + len(values)] = values

    def sums(self) -> np.ndarray:
        """The per-step sums in the order of self.columns, one row per step."""
        # One host read a segment: with blocks, the whole is their sum (blocks.sum_blocks), not a second read.
        per_block = self.backend.block_arrays() if self.blocks else []
        a = sum_blocks(per_block) if per_block else self.backend.arrays()
        if self.combine is not None:
            a = self.combine(a)
        out = np.full((self.n_steps, len(self.columns)), np.nan)
        cols = {c: i for i, c in enumerate(self.columns)}
        out[:, cols["loss"]] = self.loss
        out[:, cols["g_sq"]] = a["g_sq"]
        out[:, cols["u_sq"]] = a["u_sq"]
        if self.wd:
            out[:, cols["wd_g_sq"]] = a["wd_g_sq"]
        if per_block and self.combine is not None:
            per_block = [self.combine(b) for b in per_block]
        for b, arrays in zip(self.blocks, per_block, strict=True):
            out[:, cols[block_column("g_sq", b.name)]] = arrays["g_sq"]
        for j, (name, limit) in enumerate(zip(self.names, self.limits, strict=True)):
            rows = slice(0, min(limit, self.n_steps))  # past its budget a target is not reported
            for c in ["g_dot_d", "d_sq", "u_dot_d"] + (["wd_g_dot_d"] if self.wd else []):
                out[rows, cols[f"{c}@{name}"]] = a[c][rows, j]
            for b, arrays in zip(self.blocks, per_block, strict=True):
                for c in BLOCK_PER:
                    out[rows, cols[f"{block_column(c, b.name)}@{name}"]] = arrays[c][rows, j]
        return out

    def raw(self, epochs, steps, lrs):
        """The recorded sums as a DataFrame: epoch, step, lr, then self.columns."""
        import pandas as pd

        frame = pd.DataFrame(self.sums(), columns=self.columns)
        frame.insert(0, "lr", np.asarray(lrs, dtype=np.float64))
        frame.insert(0, "step", np.asarray(steps, dtype=np.int64))
        frame.insert(0, "epoch", np.asarray(epochs, dtype=np.int64))
        return frame


def _resolve_backend(backend: str, device: torch.device, k: int) -> str:
    """auto: fused_cpu on a CPU, else triton where Triton runs and gram (with a warning) where it does
    not; triton by name where it cannot run is an error naming why."""
    if backend == "auto" and device.type == "cpu":
        return "fused_cpu"
    if backend not in ("auto", "triton"):
        return backend
    reason = _triton_unavailable(device)
    if reason is None:
        return "triton"
    if backend == "triton":
        raise RuntimeError(f"geometry backend 'triton' cannot run on {device}: {reason}")
    log.warning("the per-step sums cannot use Triton on %s (%s): the Gram-matrix backend measures instead, "
                "slower and with %d float64 copies of the weights", device, reason, k + 4)
    return "gram"


def _triton_unavailable(device: torch.device) -> str | None:
    """Why the Triton backend cannot run on device, or None where it can."""
    try:
        from nowrongturns.geometry.triton_sums import unavailable_reason
    except ImportError as e:  # a torch build without Triton (CPU-only wheels, macOS)
        return f"Triton is not installed ({e})"
    return unavailable_reason(device)
