"""RSI, EB, γ and loLR from the per-step sums, and the per-step table. No torch: gather jobs start fast.

With minibatch gradient G (unclipped, without weight decay), d = w − w* and the update u = w_{t+1} − w_t:
    RSI = G·d / ‖d‖²,  EB = ‖G‖ / ‖d‖,  γ = G·d / (‖G‖‖d‖),  loLR = RSI / EB² = G·d / ‖G‖².
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# The raw sums a replay records per step, in the names a single w* gives them.
SUMS = ["loss", "g_dot_d", "g_sq", "d_sq", "u_sq", "u_dot_d"]
WD_SUMS = ["wd_g_dot_d", "wd_g_sq"]
# torch.nn.utils.clip_grad_norm_ divides by (‖G‖ + 1e-6); the clipped columns use the same rule.
CLIP_EPS = 1e-6


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


def step_table(run_id: str, raw: pd.DataFrame, grad_clip: float | None = None) -> pd.DataFrame:
    """The per-step table from raw sums (columns epoch, step, lr and SUMS [+ WD_SUMS]), one row per step.

    With gradient clipping, the clipped gradient is s·G with s = min(1, c / (‖G‖ + 1e-6)), so its
    geometry follows from G's: RSI and EB scale by s, loLR by 1/s, γ is unchanged.
    """
    col = {name: raw[name].to_numpy(dtype=np.float64) for name in SUMS + WD_SUMS if name in raw}
    m = metrics(col["g_dot_d"], col["g_sq"], col["d_sq"])
    u_norm = np.sqrt(col["u_sq"])
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_u_d = -col["u_dot_d"] / (u_norm * m["d_norm"])
        u_rsi = -col["u_dot_d"] / col["d_sq"]
    table = {
        "run_id": run_id,
        "epoch": raw["epoch"].to_numpy(dtype=np.int64),
        "step": raw["step"].to_numpy(dtype=np.int64),
        "lr": raw["lr"].to_numpy(dtype=np.float64),
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
        "cos_u_d": cos_u_d,  # γ_u = cos(−u, d): the update's alignment, beside the gradient's γ
        "u_rsi": u_rsi,  # −u·d / ‖d‖²: the share of ‖d‖ the step covers along d
    }
    if "wd_g_dot_d" in col:
        table.update(_weight_decay_columns(col))
    if grad_clip is not None:
        table.update(_clipped_columns(m, grad_clip))
    return pd.DataFrame(table)


def _weight_decay_columns(col: dict) -> dict:
    """The geometry of G + λw, the gradient of the loss with its L2 term (the WD_SUMS)."""
    wd = metrics(col["wd_g_dot_d"], col["wd_g_sq"], col["d_sq"])
    return {
        "wd_g_dot_d": col["wd_g_dot_d"],
        "wd_g_norm": wd["g_norm"],
        "wd_rsi": wd["rsi"],
        "wd_eb": wd["eb"],
        "wd_gamma": wd["gamma"],
        "wd_lolr": wd["lolr"],
    }


def _clipped_columns(m: dict, grad_clip: float) -> dict:
    """The clipped gradient s·G's RSI, EB and loLR, from G's (step_table's docstring)."""
    scale = np.minimum(1.0, grad_clip / (m["g_norm"] + CLIP_EPS))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "clip_scale": scale,
            "clip_g_norm": scale * m["g_norm"],
            "clip_rsi": scale * m["rsi"],
            "clip_eb": scale * m["eb"],
            "clip_lolr": m["lolr"] / scale,
        }


def for_target(raw: pd.DataFrame, name, budget: int | None = None) -> pd.DataFrame:
    """The raw sums against one target w* (columns suffixed @name), renamed to plain SUMS names;
    with a budget, only the steps of its epochs."""
    suffix = f"@{name}"
    rows = raw if budget is None else raw[raw["epoch"] < budget]
    renamed = {c: c[: -len(suffix)] for c in rows.columns if c.endswith(suffix)}
    if not renamed:
        raise ValueError(f"no sums against target {name!r} (columns: {list(raw.columns)})")
    keep = [c for c in rows.columns if "@" not in c] + list(renamed)
    return rows[keep].rename(columns=renamed)


# loLR against the run's own w* holds the step's own update: for plain SGD exactly, since d_t = Σ_{s≥t} lr_s·G_s
# gives loLR_t = G_t·d_t / ‖G_t‖² = lr_t + Σ_{s>t} lr_s·G_t·G_s / ‖G_t‖². Where lr_t is at least this share of
# the median loLR, the measured loLR mostly restates the run's own step size (the source's own ending).
OWN_STEP_LIMIT = 0.5


def own_step_share(lr, lolr_median):
    """lr / median loLR per epoch: the share of loLR that the step's own update makes up, by construction (exact for
    plain SGD without weight decay; momentum adds its buffer's share). NaN where the median loLR is not positive."""
    lr, lolr_median = np.asarray(lr, dtype=np.float64), np.asarray(lolr_median, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lolr_median > 0, lr / lolr_median, np.nan)
