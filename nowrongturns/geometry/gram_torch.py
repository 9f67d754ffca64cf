"""The per-step sums on a GPU (or any torch device): one Gram matrix per step, kept on the device.

The float64 vectors are the rows of one matrix X = [G, w, (G + λw), d_1..d_k, u], so one matrix
product gives every dot product of a step (the Gram matrix before the optimizer step, one
matrix-vector product with u after it), written straight into per-step device buffers: a handful
of kernels per step, no host synchronization, one read back per segment. On a CPU, X goes in
cache-sized chunks, so the float64 scratch stays bounded; on a GPU it is one chunk, since there
each chunk costs about ten kernel launches (86 chunks made ResNet-18's step 1.6× slower on an
H200). This is the fallback where Triton cannot run (triton_sums.py is the GPU backend): X holds
k + 4 float64 copies of the weights.
"""
from __future__ import annotations

import numpy as np
import torch

# Elements per chunk on a CPU: (rows × CHUNK) float64 scratch stays within a core's cache.
CHUNK = 1 << 17


def default_chunk(device: torch.device) -> int | None:
    """CHUNK on a CPU; None (one chunk) on an accelerator, where launches cost more than scratch."""
    return CHUNK if device.type == "cpu" else None


class GramSums:
    """The recorder's torch backend. Buffers: X ((k + 3 or 4) float64 rows of min(n, chunk)
    elements; chunk None: all n), the targets w* in their own precision, and for chunked models
    w_t as a copy."""

    def __init__(self, flat, w_stars, n_steps: int, with_wd: bool, chunk: int | None = CHUNK):
        self.flat = flat
        n, dev = flat.data.numel(), flat.data.device
        self.k = len(w_stars)
        # Widened into X when the d_j are formed: exact, and half the memory of float64 copies.
        self.w_stars = torch.stack([w.detach().to(dev).reshape(-1) for w in w_stars])
        # Row layout of X: G, w, (G + λw), d_1..d_k, u.
        self.T = 2 if with_wd else None
        self.D = 3 if with_wd else 2
        self.U = self.D + self.k
        self.chunk = n if chunk is None else min(n, chunk)
        self.single = self.chunk == n
        self.X = torch.empty(self.U + 1, self.chunk, dtype=torch.float64, device=dev)
        self.w_prev = None if self.single else torch.empty_like(flat.data)
        nan = float("nan")
        self.gram = torch.full((n_steps, self.U, self.U), nan, dtype=torch.float64, device=dev)
        self.u_dots = torch.full((n_steps, self.k + 1), nan, dtype=torch.float64, device=dev)

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

    def before(self, row: int, lam: float) -> None:
        g, w = self.flat.grad.reshape(-1), self.flat.data.reshape(-1)
        if self.single:
            X = self.X[: self.U]
            self._fill_before(self.X, g, w, self.w_stars, lam)
            torch.mm(X, X.T, out=self.gram[row])
            return
        self.w_prev.copy_(self.flat.data)
        acc = self.gram[row].zero_()
        for a, b, X in self._chunks():
            self._fill_before(X, g[a:b], w[a:b], self.w_stars[:, a:b], lam)
            acc.addmm_(X[: self.U], X[: self.U].T)

    def after(self, row: int) -> None:
        """After the optimizer step: u = w_{t+1} − w_t, and u·d_j, u·u."""
        w_next = self.flat.data.reshape(-1)
        if self.single:  # X still holds w_t and the d_j of this step
            torch.sub(w_next, self.X[1], out=self.X[self.U])
            torch.mv(self.X[self.D:], self.X[self.U], out=self.u_dots[row])
            return
        acc = self.u_dots[row].zero_()
        w_prev = self.w_prev.reshape(-1)
        for a, b, X in self._chunks():
            X[1].copy_(w_prev[a:b])
            torch.sub(X[1].unsqueeze(0), self.w_stars[:, a:b], out=X[self.D:self.U])
            torch.sub(w_next[a:b], X[1], out=X[self.U])
            acc.addmv_(X[self.D:], X[self.U])

    def arrays(self) -> dict:
        gram, u_dots = self.gram.cpu().numpy(), self.u_dots.cpu().numpy()  # the one host read
        d = np.arange(self.D, self.U)
        nan = np.full(gram.shape[0], np.nan)
        return {
            "g_sq": gram[:, 0, 0], "wd_g_sq": gram[:, self.T, self.T] if self.T else nan, "u_sq": u_dots[:, self.k],
            "g_dot_d": gram[:, 0, d], "d_sq": gram[:, d, d], "u_dot_d": u_dots[:, : self.k],
            "wd_g_dot_d": gram[:, self.T, d] if self.T else np.full((gram.shape[0], self.k), np.nan),
        }
