"""Per-step sums of the path geometry, accumulated on the device during the replay.

Accuracy: w_t is copied to float64 (exact) and d = w_t − w* formed there, never by
expanding ‖w‖² − 2w·w* + ‖w*‖² (useless near w*: relative errors of 23–174 were
measured). All sums are float64. Nothing is read back to the host inside a step;
the buffer is read once per segment. metrics.py turns the sums into RSI, EB, γ, loLR.

One replay can measure against several final points at once: the w* of each epoch
budget whose trajectory is a prefix of this one (constant or step schedules). Each
target j is recorded for the first limits[j] rows only.
"""
from __future__ import annotations

import numpy as np
import torch

_SHARED = ["loss", "g_sq", "u_sq"]
_PER_TARGET = ["g_dot_d", "d_sq", "u_dot_d"]


class GeometryRecorder:
    """One float64 row of sums per step. Buffers: w_t, G, u (and G + λw), plus w* and d per target."""

    def __init__(self, flat, w_stars, n_steps: int, weight_decay: float = 0.0, limits=None, names=None):
        w_stars = [w_stars] if isinstance(w_stars, torch.Tensor) else list(w_stars)
        self.flat = flat
        self.wd = float(weight_decay)
        dev = flat.data.device
        self.w_stars = [w.to(dev, torch.float64) for w in w_stars]
        self.d = [torch.empty_like(w) for w in self.w_stars]
        self.w, self.g, self.u = (torch.empty_like(self.w_stars[0]) for _ in range(3))
        self.t = torch.empty_like(self.w) if self.wd else None
        self.limits = list(limits) if limits is not None else [n_steps] * len(w_stars)
        self.names = [str(n) for n in names] if names is not None else [str(j) for j in range(len(w_stars))]
        shared = _SHARED + (["wd_g_sq"] if self.wd else [])
        per = _PER_TARGET + (["wd_g_dot_d"] if self.wd else [])
        self.columns = shared + [f"{c}@{n}" for n in self.names for c in per]
        self._at = {c: i for i, c in enumerate(self.columns)}
        self.buf = torch.full((n_steps, len(self.columns)), float("nan"), dtype=torch.float64, device=dev)

    def before_step(self, k: int, loss: torch.Tensor, weight_decay: float | None = None) -> None:
        """At w_t with G_t in the gradient buffer, before clipping and the optimizer step.

        weight_decay: the λ in force at this step (schedules may change it); default the run's.
        """
        at, row, w, g = self._at, self.buf[k], self.w, self.g
        w.copy_(self.flat.data)
        g.copy_(self.flat.grad)
        row[at["loss"]] = loss.detach()
        row[at["g_sq"]] = g @ g
        if self.wd:
            t = torch.add(g, w, alpha=self.wd if weight_decay is None else weight_decay, out=self.t)  # G + λw
            row[at["wd_g_sq"]] = t @ t
        for name, w_star, d, limit in zip(self.names, self.w_stars, self.d, self.limits):
            if k >= limit:
                continue
            torch.sub(w, w_star, out=d)
            row[at[f"g_dot_d@{name}"]] = g @ d
            row[at[f"d_sq@{name}"]] = d @ d
            if self.wd:
                row[at[f"wd_g_dot_d@{name}"]] = self.t @ d

    def after_step(self, k: int) -> None:
        """After the optimizer step: u = w_{t+1} − w_t."""
        at, row, u = self._at, self.buf[k], self.u
        u.copy_(self.flat.data).sub_(self.w)
        row[at["u_sq"]] = u @ u
        for name, d, limit in zip(self.names, self.d, self.limits):
            if k < limit:
                row[at[f"u_dot_d@{name}"]] = u @ d

    def read(self) -> np.ndarray:
        return self.buf.cpu().numpy()

    def raw(self, epochs, steps, lrs):
        """The recorded sums as a DataFrame: epoch, step, lr, then self.columns."""
        import pandas as pd

        frame = pd.DataFrame(self.read(), columns=self.columns)
        frame.insert(0, "lr", np.asarray(lrs, dtype=np.float64))
        frame.insert(0, "step", np.asarray(steps, dtype=np.int64))
        frame.insert(0, "epoch", np.asarray(epochs, dtype=np.int64))
        return frame
