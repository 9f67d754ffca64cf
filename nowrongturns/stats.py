"""Gather segment tables, per-epoch statistics and the loLR table. No torch: these jobs start fast.

One job per run does all three (aggregate): they are cheap beside the start of a job, and a
1,000-run study plans 2,000 jobs fewer.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from nowrongturns.geometry.metrics import OWN_STEP_LIMIT, for_target, own_step_share, step_table
from nowrongturns.storage.files import read_table, write_json, write_parquet

# cos_u_d and u_rsi: the optimizer's update u = w_{t+1} − w_t in place of G (γ_u = cos(−u, d), −u·d / ‖d‖²).
EPOCH_METRICS = ["rsi", "eb", "gamma", "lolr", "d_norm", "cos_u_d", "u_rsi"]
QUANTILES = {"q05": 0.05, "q50": 0.50, "q95": 0.95}


def read_segments(segment_paths: list[str]) -> tuple[pd.DataFrame, list[dict]]:
    """The replay segments' raw sums as one table in step order, and each segment's metadata."""
    tables, metadata = zip(*(read_table(path) for path in segment_paths), strict=True)
    raw = pd.concat(tables, ignore_index=True).sort_values("step", kind="stable").reset_index(drop=True)
    return raw, list(metadata)


def gather(run_id: str, segment_paths: list[str], budget: int, steps_path, drift_path,
           grad_clip: float | None = None) -> pd.DataFrame:
    """The run's per-step table from the replay segments' sums against its w*, and their drift records.

    The segments may belong to a longer run whose trajectory this one's is a prefix of (budget < its epochs).
    """
    raw, metadata = read_segments(segment_paths)
    drifts = [m["drift"] for m in metadata]
    steps = step_table(run_id, for_target(raw, budget, budget), grad_clip)
    if not np.array_equal(steps["step"].to_numpy(), np.arange(len(steps))) or steps["epoch"].max() != budget - 1:
        raise ValueError(f"segments {segment_paths} do not tile epochs 0-{budget - 1} without gaps or overlaps")
    write_parquet(steps, steps_path)
    drifts.sort(key=lambda d: d["segment"])
    worst = {key: max(d.get(key, 0.0) for d in drifts) for key in ("drift", "d_drift", "buffer_drift")}
    write_json({"segments": drifts, **{f"max_{k}": v for k, v in worst.items()}}, drift_path)
    return steps


def _fraction_negative(values: pd.Series) -> float:
    """Among the steps where the value is defined (γ is NaN where ‖G‖ = 0); NaN if it is nowhere."""
    defined = values.dropna()
    return float((defined < 0).mean()) if len(defined) else float("nan")


def epoch_stats(steps: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, min, max and 5/50/95% quantiles of each metric per epoch; the final epoch is flagged."""
    rows = []
    last = int(steps["epoch"].max())
    for (run_id, epoch), g in steps.groupby(["run_id", "epoch"], sort=True):
        row = {"run_id": run_id, "epoch": int(epoch), "n_steps": len(g), "final_epoch": int(epoch) == last,
               "lr_mean": float(g["lr"].mean()), "loss_mean": float(g["loss"].mean()),
               "frac_gamma_neg": _fraction_negative(g["gamma"])}
        for m in EPOCH_METRICS:
            v = g[m].to_numpy(dtype=np.float64)
            v = v[np.isfinite(v)]
            if v.size == 0:
                v = np.array([np.nan])
            row.update({
                f"{m}_mean": float(np.mean(v)),
                f"{m}_std": float(np.std(v, ddof=1)) if v.size > 1 else 0.0,
                f"{m}_min": float(np.min(v)),
                f"{m}_max": float(np.max(v)),
            })
            row.update({f"{m}_{name}": float(np.quantile(v, q)) for name, q in QUANTILES.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def lolr_table(steps: pd.DataFrame) -> pd.DataFrame:
    """loLR per epoch (mean and median of the per-step values) beside the lr actually used, and the share of the
    median that the step's own size makes up by construction (own_step_share; geometry.metrics says why), with
    own_step_dominant where it is OWN_STEP_LIMIT or more."""
    last = int(steps["epoch"].max())
    g = steps.groupby(["run_id", "epoch"], sort=True)
    out = g.agg(lr=("lr", "mean"), lolr_mean=("lolr", "mean"), lolr_median=("lolr", "median")).reset_index()
    out.insert(2, "final_epoch", out["epoch"] == last)
    out["ratio_mean"] = out["lolr_mean"] / out["lr"]
    out["ratio_median"] = out["lolr_median"] / out["lr"]
    out["own_step_share"] = own_step_share(out["lr"], out["lolr_median"])
    out["own_step_dominant"] = out["own_step_share"] >= OWN_STEP_LIMIT  # NaN compares False
    return out


def aggregate(run_id: str, segment_paths: list[str], budget: int, grad_clip: float | None,
              steps_path, drift_path, epochs_path, lolr_path) -> pd.DataFrame:
    """The run's per-step table and drift record (gather), its per-epoch statistics and its loLR table."""
    steps = gather(run_id, segment_paths, budget, steps_path, drift_path, grad_clip)
    write_parquet(epoch_stats(steps), epochs_path)
    write_parquet(lolr_table(steps), lolr_path)
    return steps


def blocks_table(run_id: str, segment_paths: list[str], budget: int, out_path) -> pd.DataFrame:
    """Per epoch and parameter block (measure.per_block), against the run's own w*: the mean and median over the
    epoch's steps of the block's γ_b = G_b·d_b / (‖G_b‖‖d_b‖) and RSI_b = G_b·d_b / ‖d_b‖², and the block's mean
    shares of ‖d‖² and of ‖G‖². Blocks keep the flat order (block_index)."""
    raw, _ = read_segments(segment_paths)
    own = for_target(raw, budget, budget)
    names = [c.split("#", 1)[1] for c in own.columns if c.startswith("g_sq#")]
    if not names:
        raise ValueError(f"segments {segment_paths} hold no per-block sums: were they replayed with "
                         f"measure.per_block: true?")
    epoch = own["epoch"].to_numpy()
    frames = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for index, name in enumerate(names):
            g_d, g_sq, d_sq = (own[f"{c}#{name}"].to_numpy(dtype=np.float64) for c in ("g_dot_d", "g_sq", "d_sq"))
            per_step = pd.DataFrame({"epoch": epoch, "gamma": g_d / np.sqrt(g_sq * d_sq), "rsi": g_d / d_sq,
                                     "d_share": d_sq / own["d_sq"].to_numpy(), "g_share": g_sq / own["g_sq"].to_numpy()})
            stats = per_step.groupby("epoch").agg(gamma_mean=("gamma", "mean"), gamma_median=("gamma", "median"),
                                                  rsi_mean=("rsi", "mean"), d_share_mean=("d_share", "mean"),
                                                  g_share_mean=("g_share", "mean")).reset_index()
            frames.append(stats.assign(block=name, block_index=index))
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "run_id", run_id)
    out["final_epoch"] = out["epoch"] == budget - 1
    first = ["run_id", "block_index", "block", "epoch"]
    out = out[first + [c for c in out.columns if c not in first]]
    write_parquet(out, out_path)
    return out
