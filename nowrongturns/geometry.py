"""Per-step geometry of the path: sums on the device during replay, metrics derived on the host.

At step t, with minibatch gradient G (unclipped, without weight decay), weights w
and final weights w*, d = w − w*:
    RSI = G·d / ‖d‖²,  EB = ‖G‖ / ‖d‖,  γ = G·d / (‖G‖‖d‖),  loLR = RSI / EB² = G·d / ‖G‖².
The update u = w_{t+1} − w_t gives ‖u‖, u·d and cos(−u, d).

Accuracy: d is formed in float64 from the float32 weights, which is exact, and
never by expanding ‖w‖² − 2w·w* + ‖w*‖² (useless near w*: relative errors of
23–174 were measured). All sums are float64. Nothing is read back to the host
inside a step; the buffer is read once per segment.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

SUMS = ["loss", "g_dot_d", "g_sq", "d_sq", "u_sq", "u_dot_d"]
WD_SUMS = ["wd_g_dot_d", "wd_g_sq"]


class GeometryRecorder:
    """Fills one float64 row of sums per step; only O(1) parameter-sized float64 buffers."""

    def __init__(self, flat, w_star: torch.Tensor, n_steps: int, weight_decay: float = 0.0):
        self.flat = flat
        self.wd = float(weight_decay)
        dev = flat.data.device
        self.w_star = w_star.to(dev, torch.float64)
        self.d = torch.empty_like(self.w_star)
        self.g = torch.empty_like(self.w_star)
        self.t = torch.empty_like(self.w_star) if self.wd else None
        self.columns = SUMS + (WD_SUMS if self.wd else [])
        self.buf = torch.full((n_steps, len(self.columns)), float("nan"), dtype=torch.float64, device=dev)

    def before_step(self, k: int, loss: torch.Tensor, weight_decay: float | None = None) -> None:
        """At w_t with G_t in the gradient buffer, before clipping and the optimizer step.

        weight_decay: the λ in force at this step (schedules may change it); default the run's.
        """
        d, g, row = self.d, self.g, self.buf[k]
        d.copy_(self.flat.data).sub_(self.w_star)
        g.copy_(self.flat.grad)
        row[0] = loss.detach()
        row[1] = g @ d
        row[2] = g @ g
        row[3] = d @ d
        if self.wd:
            t = torch.add(d, self.w_star, out=self.t)  # w_t, exactly
            t.mul_(self.wd if weight_decay is None else weight_decay).add_(g)  # G + λw
            row[6] = t @ d
            row[7] = t @ t

    def after_step(self, k: int) -> None:
        """After the optimizer step: u = w_{t+1} − w_t = d_{t+1} − d_t."""
        u, row = self.g, self.buf[k]
        u.copy_(self.flat.data).sub_(self.w_star).sub_(self.d)
        row[4] = u @ u
        row[5] = u @ self.d

    def read(self) -> np.ndarray:
        return self.buf.cpu().numpy()


def metrics(g_dot_d, g_sq, d_sq) -> dict:
    """RSI, EB, γ and loLR from the three sums (numpy arrays or floats)."""
    g_dot_d, g_sq, d_sq = (np.asarray(a, dtype=np.float64) for a in (g_dot_d, g_sq, d_sq))
    g_norm, d_norm = np.sqrt(g_sq), np.sqrt(d_sq)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "g_norm": g_norm,
            "d_norm": d_norm,
            "rsi": g_dot_d / d_sq,
            "eb": g_norm / d_norm,
            "gamma": g_dot_d / (g_norm * d_norm),
            "lolr": g_dot_d / g_sq,
        }


# torch.nn.utils.clip_grad_norm_ divides by (‖G‖ + 1e-6); the clipped columns use the same rule.
CLIP_EPS = 1e-6


def step_table(run_id: str, epochs, steps, lrs, sums: np.ndarray, columns: list[str],
               grad_clip: float | None = None) -> pd.DataFrame:
    """The per-step table: one row per step, metrics derived from the recorded sums.

    With gradient clipping, the clipped gradient is s·G with s = min(1, c / (‖G‖ + 1e-6)), so its
    geometry follows from G's: RSI and EB scale by s, loLR by 1/s, γ is unchanged.
    """
    col = {name: sums[:, i] for i, name in enumerate(columns)}
    m = metrics(col["g_dot_d"], col["g_sq"], col["d_sq"])
    u_norm = np.sqrt(col["u_sq"])
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_u_d = -col["u_dot_d"] / (u_norm * m["d_norm"])
    table = {
        "run_id": run_id,
        "epoch": np.asarray(epochs, dtype=np.int64),
        "step": np.asarray(steps, dtype=np.int64),
        "lr": np.asarray(lrs, dtype=np.float64),
        "loss": col["loss"],
        "g_dot_d": col["g_dot_d"],
        "g_norm": m["g_norm"],
        "d_norm": m["d_norm"],
        "rsi": m["rsi"],
        "eb": m["eb"],
        "gamma": m["gamma"],
        "lolr": m["lolr"],
        "u_norm": u_norm,
        "u_dot_d": col["u_dot_d"],
        "cos_u_d": cos_u_d,
    }
    if "wd_g_dot_d" in col:
        wd = metrics(col["wd_g_dot_d"], col["wd_g_sq"], col["d_sq"])
        table.update({
            "wd_g_dot_d": col["wd_g_dot_d"],
            "wd_g_norm": wd["g_norm"],
            "wd_rsi": wd["rsi"],
            "wd_eb": wd["eb"],
            "wd_gamma": wd["gamma"],
            "wd_lolr": wd["lolr"],
        })
    if grad_clip is not None:
        scale = np.minimum(1.0, grad_clip / (m["g_norm"] + CLIP_EPS))
        with np.errstate(divide="ignore", invalid="ignore"):
            table.update({
                "clip_scale": scale,
                "clip_g_norm": scale * m["g_norm"],
                "clip_rsi": scale * m["rsi"],
                "clip_eb": scale * m["eb"],
                "clip_lolr": m["lolr"] / scale,
            })
    return pd.DataFrame(table)
