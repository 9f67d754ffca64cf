"""The numbers that prose about the analyses quotes, taken from the run's tables: one Markdown page.

The docs and the report state what an analysis measures; what it found on a given run is this page,
written by the rule `findings` from the tables themselves, with the machines whose jobs computed them
(the CPU line each job logs first: the last digits of CPU sums follow it). docs/findings.md is this
page for the default study, copied from results/report/; nothing in the docs is typed by hand.

Each section says which table and rows its numbers are, and averages only over epochs the figures show
(figures.drop_final_epoch leaves the epoch measured against its own endpoint out).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from nowrongturns.storage.files import read_table, write_text

_CPU = re.compile(r"cpu='([^']*)'")


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.3g}"


def markdown_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(v if isinstance(v, str) else _fmt(v) for v in row) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _shown(df: pd.DataFrame, drop_final_epoch: bool) -> pd.DataFrame:
    """The epochs the figures show."""
    if drop_final_epoch and "final_epoch" in df and not df["final_epoch"].all():
        df = df[~df["final_epoch"].astype(bool)]
    return df


def _span(df: pd.DataFrame) -> str:
    return f"{int(df['epoch'].min())}–{int(df['epoch'].max())}"


def machines(log_dirs) -> list[str]:
    """The distinct CPUs named on the first line of the job logs in these folders (sorted)."""
    found = set()
    for folder in log_dirs:
        for log in sorted(Path(folder).glob("*.log")):
            with open(log, encoding="utf-8", errors="replace") as f:
                match = _CPU.search(f.readline())
            if match:
                found.add(match.group(1))
    return sorted(found)


# -- one section per figure kind that has numbers worth quoting ------------------------------------------
def full_batch(runs: list[dict], drop_final_epoch: bool) -> tuple[str, pd.DataFrame]:
    rows = []
    for run in runs:
        df = _shown(read_table(run["full_batch"])[0], drop_final_epoch)
        df = df[df["target"] == "w*"]
        by_mode = df.pivot_table(index="epoch", columns="mode", values="gamma")
        share = df[df["mode"] == "train_independent"]["noise_share"]
        row = {"run": run["label"], "epochs": _span(df),
               "minibatch γ": df.drop_duplicates("epoch")["gamma_minibatch"].mean()}
        row.update({f"full batch γ, {m}": by_mode[m].mean() if m in by_mode else np.nan
                    for m in ("eval", "train_independent", "train_own_draws")})
        row.update({"noise share min": share.min(), "noise share max": share.max()})
        rows.append(row)
    note = ("Means over the epochs shown of `full_batch.parquet` against w*: the minibatch γ (mean over each "
            "epoch's steps), the full-batch γ at each epoch's start in each mode, and the range of the noise's "
            "share of E‖G‖² on the independent draws.")
    return note, pd.DataFrame(rows)


def forks(runs: list[dict], drop_final_epoch: bool) -> tuple[str, pd.DataFrame]:
    rows = []
    for run in runs:
        df = read_table(run["forks"])[0]  # every epoch: the final one is where the bias against w* is largest
        for fid, part in df.groupby("fork", sort=False):
            for r in part.sort_values("epoch").itertuples():
                rows.append({"run": run["label"], "fork": fid, "epoch": int(r.epoch), "γ vs w*": r.gamma_own_mean,
                             "γ vs w*′": r.gamma_fork_mean, "null γ·cos(d, d′)": r.gamma_fork_null_mean,
                             "‖w_t − w*‖": r.d_own_norm_mean, "‖w* − w*′‖": r.w_star_distance,
                             "random walk vs w*": r.random_walk_gamma_own})
    note = ("Per epoch from the fork on, from `forks.parquet`: mean γ over the epoch's steps against the run's "
            "own w* and against the fork's w*′, the geometric null for w*′ (what γ against w*′ would be if the "
            "gradient's alignment with w* carried over by the distances alone), the mean distance to w*, the "
            "distance between the endpoints, and the random walk's γ against its own endpoint.")
    return note, pd.DataFrame(rows)


def path(runs: list[dict], drop_final_epoch: bool) -> tuple[str, pd.DataFrame]:
    rows = []
    for run in runs:
        df = read_table(run["path"])[0]
        for t, part in df.groupby("from_epoch", sort=True):
            part = part.sort_values("alpha")
            middle = part.iloc[(len(part) - 1) // 2]
            rows.append({"run": run["label"], "from": "w0" if t == 0 else f"w_{t}",
                         "BatchNorm statistics": str(part["bn_statistics"].iloc[0]),
                         "loss α=0": part["train_loss"].iloc[0], f"loss α={middle['alpha']:.2g}": middle["train_loss"],
                         "loss α=1": part["train_loss"].iloc[-1], "monotone": bool(part["monotone"].iloc[0]),
                         "largest bump": part["max_bump"].iloc[0]})
    note = ("From `path.parquet`: the full-batch training loss (evaluation mode) at the start, middle and end of "
            "each straight path to w*, whether it falls monotonically and its largest rise.")
    return note, pd.DataFrame(rows)


def update(runs: list[dict], drop_final_epoch: bool) -> tuple[str, pd.DataFrame]:
    frames = []
    for run in runs:
        df = _shown(read_table(run["epochs"])[0], drop_final_epoch)
        frames.append(pd.DataFrame({"run": run["label"], "epoch": df["epoch"].astype(int),
                                    "γ (gradient)": df["gamma_mean"], "γ_u (update)": df["cos_u_d_mean"],
                                    "update RSI": df["u_rsi_mean"]}))
    note = ("Per epoch, from `epochs.parquet`: the mean over the epoch's steps of γ = cos(G, d) and of "
            "γ_u = cos(−u, d), u the update the optimizer took, and of −u·d / ‖d‖².")
    return note, pd.concat(frames, ignore_index=True)


def sharpness(runs: list[dict], drop_final_epoch: bool) -> tuple[str, pd.DataFrame]:
    frames = []
    for run in runs:
        df = _shown(read_table(run["sharpness"])[0], drop_final_epoch)
        frames.append(pd.DataFrame({"run": run["label"], "epoch": df["epoch"].astype(int), "λ_max": df["lambda_max"],
                                    "2/lr": df["two_over_lr"], "residual": df["residual"],
                                    "median loLR": df["lolr_median"], "2/λ_max": df["two_over_lambda"]}))
    note = ("Per measured epoch start, from `sharpness.parquet`: λ_max of the training loss's Hessian (power "
            "iteration, evaluation mode, fixed minibatches) and its last residual ‖Hv − λv‖/|λ|, beside 2/lr, and "
            "the epoch's median loLR beside 2/λ_max.")
    return note, pd.concat(frames, ignore_index=True)


def blocks(runs: list[dict], drop_final_epoch: bool) -> tuple[str, pd.DataFrame]:
    rows = []
    for run in runs:
        df = _shown(read_table(run["blocks"])[0], drop_final_epoch)
        first, last = df["epoch"].min(), df["epoch"].max()
        for (_, name), part in df.groupby(["block_index", "block"], sort=True):  # in the flat order
            by_epoch = part.set_index("epoch")
            rows.append({"run": run["label"], "block": name, f"γ_b, epoch {first}": by_epoch.loc[first, "gamma_mean"],
                         f"γ_b, epoch {last}": by_epoch.loc[last, "gamma_mean"],
                         f"mean γ_b, epochs {_span(part)}": part["gamma_mean"].mean(),
                         "share of ‖d‖²": part["d_share_mean"].mean(), "share of ‖G‖²": part["g_share_mean"].mean()})
    note = ("Per parameter block, from `blocks.parquet`: the mean over the epoch's steps of γ_b = cos(G_b, d_b) at "
            "the first and last epoch shown and averaged over them, and the block's mean shares of ‖d‖² and ‖G‖².")
    return note, pd.DataFrame(rows)


def schedules(runs: list[dict], drop_final_epoch: bool) -> tuple[str, pd.DataFrame]:
    rows = []
    for run in runs:
        history = read_table(run["history"])[0].sort_values("epoch")
        epochs = _shown(read_table(run["epochs"])[0], drop_final_epoch)
        metric = next((m for m in ("val_acc", "val_pixel_acc", "val_ppl", "val_loss") if m in history), None)
        rows.append({"run": run["label"], "lr, first epoch": history["lr"].iloc[0],
                     "lr, last epoch": history["lr"].iloc[-1], "final training loss": history["train_loss"].iloc[-1],
                     f"final {metric}" if metric else "final validation": history[metric].iloc[-1] if metric else np.nan,
                     f"mean γ, epochs {_span(epochs)}": epochs["gamma_mean"].mean()})
    note = ("From each run's `reference/history.parquet` (the lr in force at an epoch's last step, the epoch's "
            "mean training loss, the validation after it) and `epochs.parquet` (γ).")
    return note, pd.DataFrame(rows)


SECTIONS = {"full_batch": full_batch, "forks": forks, "path": path, "update": update, "sharpness": sharpness,
            "blocks": blocks, "schedules": schedules}


def findings_page(studies: list[dict], drop_final_epoch: bool, out) -> str:
    """studies: [{name, figures, runs: [{label, run_id, log_dirs, <table>: path}]}]. One section per study and
    figure kind of SECTIONS, each with its table, the note saying what the numbers are and the machines."""
    intro = ("Numbers from the tables of this results folder, written by the rule `findings`. Each section says "
             "which table they are from; the machines are the CPUs on the first line of the jobs' logs.")
    parts = ["# Findings", "", intro, ""]
    for study in studies:
        for kind in study["figures"]:
            if kind not in SECTIONS:
                continue
            note, table = SECTIONS[kind](study["runs"], drop_final_epoch)
            cpus = machines(d for run in study["runs"] for d in run["log_dirs"])
            parts += [f"## {study['name']}: {kind}", "", note, "", markdown_table(table), "",
                      f"Computed on: {'; '.join(cpus) or 'no job log found'}.", ""]
    text = "\n".join(parts)
    write_text(text, out)
    return text
