"""What the one-pass backends (fused_cpu.py on CPU, triton_sums.py on a GPU) share: the layout of
the per-step sums, and the folding of step t's update sums into step t+1's pass.

The update u = w_{t+1} − w_t exists only after the optimizer step. Rather than a second pass over
memory after every step, step t+1's pass reads the copy of w_t that step t's pass wrote (w_prev)
beside w_{t+1}, and forms u there. Only a step whose successor is not recorded next (the
segment's last step, or rows recorded out of order) gets a small pass of its own (flush).
"""
from __future__ import annotations

import numpy as np

# shared[row] columns (no target needed), and per[row, target] columns.
G_SQ, WD_G_SQ, U_SQ = 0, 1, 2
G_DOT_D, D_SQ, WD_G_DOT_D, U_DOT_D = 0, 1, 2, 3
N_SHARED, N_PER = 3, 4


class FoldedSums:
    """Subclasses implement step_pass and update_pass over their own buffers `shared`
    [n_steps, N_SHARED] and `per` [n_steps, targets, N_PER] (float64, NaN where not recorded)."""

    n_steps: int

    def step_pass(self, row: int, lam: float, with_prev: bool) -> None:
        """Step `row`'s own sums from G and w; with_prev: also step row − 1's update sums from
        w_prev; then w_prev ← w."""
        raise NotImplementedError

    def update_pass(self, row: int) -> None:
        """Step `row`'s update sums alone (w holds w_{row+1}, w_prev holds w_row)."""
        raise NotImplementedError

    def host_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(shared, per) as numpy arrays: the one read back of a segment."""
        raise NotImplementedError

    pending: int | None = None  # the step whose update sums are still to come (w_prev holds its w)

    def before(self, row: int, lam: float) -> None:
        with_prev = self.pending == row - 1
        if self.pending is not None and not with_prev:
            self.flush()
        self.step_pass(row, lam, with_prev)
        self.pending = row

    def after(self, row: int) -> None:
        # The update is measured in the next step's pass; after the segment's last step there is none.
        if row == self.n_steps - 1:
            self.flush()

    def flush(self) -> None:
        """The pending step's update sums, from the weights as they are now."""
        if self.pending is None:
            return
        self.update_pass(self.pending)
        self.pending = None

    def arrays(self) -> dict:
        self.flush()
        return columns(*self.host_arrays())


def columns(shared: np.ndarray, per: np.ndarray) -> dict:
    """The sums by name from shared [n_steps, N_SHARED] and per [n_steps, targets, N_PER]."""
    return {
        "g_sq": shared[:, G_SQ], "wd_g_sq": shared[:, WD_G_SQ], "u_sq": shared[:, U_SQ],
        "g_dot_d": per[:, :, G_DOT_D], "d_sq": per[:, :, D_SQ],
        "wd_g_dot_d": per[:, :, WD_G_DOT_D], "u_dot_d": per[:, :, U_DOT_D],
    }
