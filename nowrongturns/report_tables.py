"""The tables of the Snakemake report, as HTML pages: a study's per-epoch statistics, and the replay
drift of every run. The report shows an HTML result in place; a Parquet file it could only offer for
download.
"""
from __future__ import annotations

import html
import json

import pandas as pd

from nowrongturns.storage.files import read_table, write_text

# The per-epoch columns a reader of the figures looks up (epochs.parquet holds more: std, quantiles).
EPOCH_COLUMNS = ("epoch", "final_epoch", "lr_mean", "loss_mean", "gamma_mean", "gamma_min", "gamma_max",
                 "frac_gamma_neg", "rsi_mean", "eb_mean", "d_norm_mean")
LOLR_COLUMNS = ("lolr_mean", "lolr_median", "ratio_median")
DRIFT_COLUMNS = ("segment", "start_epoch", "end_epoch", "device", "drift", "d_drift", "buffer_drift")

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; font-size: 13px; margin: 1em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
th {{ background: #f0f0f0; position: sticky; top: 0; }}
td:first-child, td:nth-child(2) {{ text-align: left; }}
</style></head>
<body><h3>{title}</h3>
<p>{note}</p>
{table}
</body></html>
"""


def _page(title: str, note: str, df: pd.DataFrame) -> str:
    table = df.to_html(index=False, float_format=lambda x: f"{x:.6g}", na_rep="–", border=0)
    return _PAGE.format(title=html.escape(title), note=html.escape(note), table=table)


def epochs_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per (run, epoch): the epoch's statistics of the run and its loLR beside the lr in force.
    runs: dicts with label, run_id and the paths of its epochs and lolr tables."""
    frames = []
    for run in runs:
        epochs, _ = read_table(run["epochs"])
        lolr, _ = read_table(run["lolr"])
        df = epochs[list(EPOCH_COLUMNS)].merge(lolr[["epoch", *LOLR_COLUMNS]], on="epoch", how="left")
        frames.append(df.assign(run=run["label"], run_id=run["run_id"]))
    df = pd.concat(frames, ignore_index=True)
    return df[["run", "run_id", *[c for c in df.columns if c not in ("run", "run_id")]]]


def write_study_tables(study: str, runs: list[dict], out) -> None:
    df = epochs_frame(runs)
    note = ("Per epoch: the mean of γ, RSI, EB and ‖w − w*‖ over the epoch's steps, γ's range, the share of "
            "steps with γ < 0, and loLR (mean and median) beside the lr in force. final_epoch marks the epoch "
            "measured against its own end point, which the figures leave out. Every statistic, with "
            "standard deviations and quantiles, is in each run's epochs.parquet.")
    write_text(_page(f"{study}: per-epoch statistics ({len(runs)} runs)", note, df), out)


def drift_frame(drift_paths: dict[str, str]) -> pd.DataFrame:
    """One row per (run, replay segment): the relative drift of the replay from the reference at the
    segment's end (weights, d = w − w*, buffers)."""
    rows = []
    for run_id, path in drift_paths.items():
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
        rows += [{"run_id": run_id, **{k: seg.get(k) for k in DRIFT_COLUMNS}} for seg in record["segments"]]
    return pd.DataFrame(rows, columns=["run_id", *DRIFT_COLUMNS])


def write_drift_summary(drift_paths: dict[str, str], tolerance: float, out) -> None:
    df = drift_frame(drift_paths)
    worst = float(df[["drift", "d_drift", "buffer_drift"]].max().max()) if len(df) else 0.0
    note = (f"{len(drift_paths)} runs, {len(df)} replay segments; largest drift {worst:.3g} "
            f"(measure.drift_tolerance {tolerance:g}; 0 is an exact replay, as on CPU and on one GPU model with "
            f"deterministic kernels).")
    write_text(_page("Replay drift", note, df), out)
