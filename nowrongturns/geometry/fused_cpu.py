"""The per-step sums on CPU in one pass over memory per target: a Numba kernel.

Each element of G, w, w_{t-1} and w* is read once, widened to float64, and feeds every sum of the
step at once: ‖G‖², ‖G + λw‖², and per target G·d, ‖d‖², (G + λw)·d with d = w − w*, plus the
previous step's update u = w_t − w_{t−1}: ‖u‖², u·(w_{t−1} − w*). Folding step t−1's update
into step t's pass is what makes it one pass: the copy of w that the update needs is rewritten
in the same loop. Memory traffic per element: four reads and one write, against the three reads
any such measurement needs.

Exactness: every difference and product is formed in float64 and summed in float64 (no fused
multiply-add). `fastmath={"reassoc"}` lets LLVM keep several partial sums in vector lanes, so the
order of the additions follows the CPU's vector width: the last bits of a sum may differ between
CPU types, as they do for torch's own CPU reductions, but one machine always gives the same bits.
Nothing here writes the weights or gradients, so the trajectory is untouched.

Numba ships its own LLVM, so no C compiler is needed at run time (unlike torch.compile on CPU);
compiled code is cached on disk (cache=True), so only a machine's first job pays the compile.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit

from nowrongturns.geometry.one_pass import (
    D_SQ,
    G_DOT_D,
    G_SQ,
    N_PER,
    N_SHARED,
    U_DOT_D,
    U_SQ,
    WD_G_DOT_D,
    WD_G_SQ,
    FoldedSums,
)

# Partial sums may sit in vector lanes (see above); no fused multiply-add, no other fast-math liberty.
OPTIONS = {"fastmath": {"reassoc"}, "boundscheck": False, "nogil": True}


def compile_kernel(fn):
    """Numba-compile fn, cached on disk where a cache can be written (next to this file, or under the
    user's cache folder); compiled afresh in each process where none can (read-only install and home)."""
    try:
        return njit(cache=True, **OPTIONS)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(cache=False, **OPTIONS)(fn)


@functools.cache
def step_kernel(with_wd: bool, with_prev: bool, first: bool, last: bool):
    """The pass of one step against one target, compiled for one combination of the flags (Numba takes
    them as constants, so each loop holds only the work it needs and vectorizes):
    with_wd: also (G + λw)·d and ‖G + λw‖²; with_prev: w_prev holds step row − 1's w, so that
    step's update sums come too; first: the sums that need no target (first target only);
    last: w_prev ← w (last target only). One loop on purpose: the point of the kernel is one pass over
    memory per step and target, and the order of its float64 sums is part of the results."""

    @compile_kernel
    def step_pass(g, w, w_prev, w_star, lam, row, j, shared, per):
        g_sq = 0.0
        t_sq = 0.0
        u_sq = 0.0
        g_d = 0.0
        d_sq = 0.0
        t_d = 0.0
        u_d = 0.0
        for i in range(w.shape[0]):
            gi = np.float64(g[i])
            wi = np.float64(w[i])
            si = np.float64(w_star[i])
            d = wi - si
            g_d += gi * d
            d_sq += d * d
            if first:
                g_sq += gi * gi
            if with_wd:
                t = gi + lam * wi
                t_d += t * d
                if first:
                    t_sq += t * t
            if with_prev:
                pi = np.float64(w_prev[i])
                u = wi - pi
                u_d += u * (pi - si)
                if first:
                    u_sq += u * u
            if last:
                w_prev[i] = w[i]
        per[row, j, G_DOT_D] = g_d
        per[row, j, D_SQ] = d_sq
        if with_wd:
            per[row, j, WD_G_DOT_D] = t_d
        if first:
            shared[row, G_SQ] = g_sq
            if with_wd:
                shared[row, WD_G_SQ] = t_sq
        if with_prev:
            per[row - 1, j, U_DOT_D] = u_d
            if first:
                shared[row - 1, U_SQ] = u_sq

    return step_pass


@compile_kernel
def update_pass(w, w_prev, w_star, first, row, j, shared, per):
    """Step `row`'s update sums alone (w now holds w_{row+1}, w_prev holds w_row): after the last step."""
    u_sq = 0.0
    u_d = 0.0
    for i in range(w.shape[0]):
        pi = np.float64(w_prev[i])
        u = np.float64(w[i]) - pi
        u_d += u * (pi - np.float64(w_star[i]))
        if first:
            u_sq += u * u
    per[row, j, U_DOT_D] = u_d
    if first:
        shared[row, U_SQ] = u_sq


# Elements of padding on each side of w_prev, the one array the step kernel writes. LLVM's vectorized
# loop first checks at run time that the stored-to array does not start within one vector block
# (vector width × unroll, at most 8 × 16 elements) after an array it reads, and else runs the scalar
# loop, which adds in another order. Where a CPU's block is wider than the smallest input its vector
# loop takes, separate arrays of a tiny model can be that close, and the last bits of the sums then
# depended on where the allocator put them (seen: one step of the 20-weight ALM run differed between
# two processes; not possible on AMD Zen 3, whose block of 8 is also the smallest input). No other
# array can start inside the padding (tests/test_fused_cpu.py, the widest block forced on any CPU).
W_PREV_PAD = 256


def padded_zeros(n: int, dtype) -> np.ndarray:
    """n zeros with W_PREV_PAD elements of their own buffer before and after them."""
    return np.zeros(n + 2 * W_PREV_PAD, dtype=dtype)[W_PREV_PAD:W_PREV_PAD + n]


class FusedCpuSums(FoldedSums):
    """The recorder's CPU backend: numpy views of the flat buffers, results in numpy arrays."""

    def __init__(self, flat, w_stars, n_steps: int, with_wd: bool):
        self.g = flat.grad.detach().reshape(-1).numpy()  # views: the buffers are never replaced
        self.w = flat.data.detach().reshape(-1).numpy()
        self.w_stars = [np.ascontiguousarray(w.detach().cpu().reshape(-1).numpy()) for w in w_stars]
        self.w_prev = padded_zeros(self.w.size, self.w.dtype)
        self.with_wd = with_wd
        self.n_steps = n_steps
        self.shared = np.full((n_steps, N_SHARED), np.nan)
        self.per = np.full((n_steps, len(self.w_stars), N_PER), np.nan)

    def step_pass(self, row: int, lam: float, with_prev: bool) -> None:
        last = len(self.w_stars) - 1
        for j, w_star in enumerate(self.w_stars):
            kernel = step_kernel(self.with_wd, with_prev, j == 0, j == last)
            kernel(self.g, self.w, self.w_prev, w_star, lam, row, j, self.shared, self.per)

    def update_pass(self, row: int) -> None:
        for j, w_star in enumerate(self.w_stars):
            update_pass(self.w, self.w_prev, w_star, j == 0, row, j, self.shared, self.per)

    def host_arrays(self):
        return self.shared, self.per
