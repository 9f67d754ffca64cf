"""Per-step sums of the path geometry, accumulated on the device during the replay.

Accuracy: w_t is copied to float64 (exact) and d = w_t − w* formed there, never by
expanding ‖w‖² − 2w·w* + ‖w*‖² (useless near w*: relative errors of 23–174 were
measured). G + λw is formed directly too (it vanishes where weight decay balances the
gradient). All sums are float64. Nothing is read back to the host inside a step;
the buffers are read once per segment. metrics.py turns the sums into RSI, EB, γ, loLR.

Speed: the float64 vectors are the rows of one matrix X = [G, w, (G + λw), d_1..d_k, u], so
one matrix product gives every dot product of a step (the Gram matrix before the optimizer
step, one matrix-vector product with u after it), written straight into per-step buffers:
a handful of kernels per step instead of one per sum. Large models go through X in chunks
that stay in cache, so each step reads G, w and w* from memory about once.

One replay can measure against several final points at once: the w* of each epoch
budget whose trajectory is a prefix of this one (constant or step schedules). Each
target j is reported for the first limits[j] rows only.
"""
from __future__ import annotations

import numpy as np
import torch

# Elements per chunk: (rows × CHUNK) float64 scratch stays within a core's cache.
CHUNK = 1 << 17


class GeometryRecorder:
    """Per step: the Gram matrix of [G, w, (G + λw), d_1..d_k] and u·[d_1..d_k, u] in float64.

    Buffers: X ((k + 3 or 4) float64 rows of min(n, chunk) elements), w* as float64, and for
    chunked models w_t as a float32 copy.
    """

    def __init__(self, flat, w_stars, n_steps: int, weight_decay: float = 0.0, limits=None, names=None,
                 chunk: int = CHUNK):
        w_stars = [w_stars] if isinstance(w_stars, torch.Tensor) else list(w_stars)
        self.flat = flat
        self.wd = float(weight_decay)
        n, dev = flat.data.numel(), flat.data.device
        self.k = len(w_stars)
        self.limits = list(limits) if limits is not None else [n_steps] * self.k
        self.names = [str(j) for j in (names if names is not None else range(self.k))]
        self.w_stars = torch.stack([w.to(dev, torch.float64).reshape(-1) for w in w_stars])
        # Row layout of X: G, w, (G + λw), d_1..d_k, u.
        self.T = 2 if self.wd else None
        self.D = 3 if self.wd else 2
        self.U = self.D + self.k
        self.chunk = min(n, chunk)
        self.single = self.chunk == n
        self.X = torch.empty(self.U + 1, self.chunk, dtype=torch.float64, device=dev)
        self.w_prev = None if self.single else torch.empty_like(flat.data)
        nan = float("nan")
        self.gram = torch.full((n_steps, self.U, self.U), nan, dtype=torch.float64, device=dev)
        self.u_dots = torch.full((n_steps, self.k + 1), nan, dtype=torch.float64, device=dev)
        self.loss = torch.full((n_steps,), nan, dtype=torch.float64, device=dev)
        shared = ["loss", "g_sq", "u_sq"] + (["wd_g_sq"] if self.wd else [])
        per = ["g_dot_d", "d_sq", "u_dot_d"] + (["wd_g_dot_d"] if self.wd else [])
        self.columns = shared + [f"{c}@{name}" for name in self.names for c in per]

    def _chunks(self):
        n = self.flat.data.numel()
        for a in range(0, n, self.chunk):
            b = min(a + self.chunk, n)
            yield a, b, self.X[:, : b - a]

    def _fill_before(self, X, g, w, w_star, lam):
        X[0].copy_(g)
        X[1].copy_(w)
        if self.T:
            torch.add(X[0], X[1], alpha=lam, out=X[self.T])  # G + λw
        torch.sub(X[1].unsqueeze(0), w_star, out=X[self.D:self.U])  # d_j = w − w*_j

    def before_step(self, k: int, loss: torch.Tensor, weight_decay: float | None = None) -> None:
        """At w_t with G_t in the gradient buffer, before clipping and the optimizer step.

        weight_decay: the λ in force at this step (schedules may change it); default the run's.
        """
        lam = self.wd if weight_decay is None else float(weight_decay)
        self.loss[k] = loss.detach()
        g, w = self.flat.grad.reshape(-1), self.flat.data.reshape(-1)
        if self.single:
            X = self.X[: self.U]
            self._fill_before(self.X, g, w, self.w_stars, lam)
            torch.mm(X, X.T, out=self.gram[k])
            return
        self.w_prev.copy_(self.flat.data)
        acc = self.gram[k].zero_()
        for a, b, X in self._chunks():
            self._fill_before(X, g[a:b], w[a:b], self.w_stars[:, a:b], lam)
            acc.addmm_(X[: self.U], X[: self.U].T)

    def after_step(self, k: int) -> None:
        """After the optimizer step: u = w_{t+1} − w_t, and u·d_j, u·u."""
        w_next = self.flat.data.reshape(-1)
        if self.single:  # X still holds w_t and the d_j of this step
            torch.sub(w_next, self.X[1], out=self.X[self.U])
            torch.mv(self.X[self.D:], self.X[self.U], out=self.u_dots[k])
            return
        acc = self.u_dots[k].zero_()
        w_prev = self.w_prev.reshape(-1)
        for a, b, X in self._chunks():
            X[1].copy_(w_prev[a:b])
            torch.sub(X[1].unsqueeze(0), self.w_stars[:, a:b], out=X[self.D:self.U])
            torch.sub(w_next[a:b], X[1], out=X[self.U])
            acc.addmv_(X[self.D:], X[self.U])

    def sums(self) -> np.ndarray:
        """The per-step sums in the order of self.columns, one row per step (one host read)."""
        gram, u_dots, loss = (t.cpu().numpy() for t in (self.gram, self.u_dots, self.loss))
        n = len(loss)
        out = np.full((n, len(self.columns)), np.nan)
        cols = {c: i for i, c in enumerate(self.columns)}
        out[:, cols["loss"]] = loss
        out[:, cols["g_sq"]] = gram[:, 0, 0]
        out[:, cols["u_sq"]] = u_dots[:, self.k]
        if self.wd:
            out[:, cols["wd_g_sq"]] = gram[:, self.T, self.T]
        for j, (name, limit) in enumerate(zip(self.names, self.limits)):
            d = self.D + j
            rows = slice(0, min(limit, n))  # past its budget a target is not reported
            out[rows, cols[f"g_dot_d@{name}"]] = gram[rows, 0, d]
            out[rows, cols[f"d_sq@{name}"]] = gram[rows, d, d]
            out[rows, cols[f"u_dot_d@{name}"]] = u_dots[rows, j]
            if self.wd:
                out[rows, cols[f"wd_g_dot_d@{name}"]] = gram[rows, self.T, d]
        return out

    def raw(self, epochs, steps, lrs):
        """The recorded sums as a DataFrame: epoch, step, lr, then self.columns."""
        import pandas as pd

        frame = pd.DataFrame(self.sums(), columns=self.columns)
        frame.insert(0, "lr", np.asarray(lrs, dtype=np.float64))
        frame.insert(0, "step", np.asarray(steps, dtype=np.int64))
        frame.insert(0, "epoch", np.asarray(epochs, dtype=np.int64))
        return frame
