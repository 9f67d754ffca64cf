"""Figures of a study: per-epoch and per-step geometry of the optimization path.

Each figure kind reproduces one figure of "No Wrong Turns" (Guille-Escuret et al.)
from the Parquet tables written for each run (steps, epochs, lolr).
"""
from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")  # headless: the pipeline runs without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .io import atomic_path, read_table  # noqa: E402

FIGURE_KINDS = ("gamma", "stacked", "lolr", "distance", "counterexamples", "random_walk")

GAMMA_LABEL = "γ = cos(G, w − w*)"

# Which table each kind reads, so only the needed tables are loaded.
_TABLE_OF_KIND = {
    "gamma": "epochs",
    "stacked": "epochs",
    "distance": "epochs",
    "lolr": "lolr",
    "counterexamples": "steps",
    "random_walk": "steps",
}


def epoch_rows(df: pd.DataFrame, drop_final_epoch: bool) -> pd.DataFrame:
    """Rows to plot per epoch, sorted by epoch.

    The paper excludes the final epoch (its statistics are taken against w* = the
    final point itself); keep it anyway if nothing else would be left.
    """
    if drop_final_epoch and "final_epoch" in df.columns:
        kept = df[~df["final_epoch"].astype(bool)]
        if not kept.empty:
            df = kept
    return df.sort_values("epoch")


def _read_table(path, run_id) -> pd.DataFrame:
    df, _ = read_table(path)  # a missing or damaged table is an error naming it
    # A table may hold several runs; keep only the one asked for.
    if run_id is not None and "run_id" in df.columns:
        df = df[df["run_id"] == run_id]
        if df.empty:
            raise ValueError(f"no rows for run_id {run_id!r} in {path}")
    return df


def _banded(ax, df, metric, label, color):
    """Mean line with a shaded min–max band, against epoch."""
    x = df["epoch"].to_numpy()
    ax.plot(x, df[f"{metric}_mean"], marker=".", color=color, label=label)
    ax.fill_between(x, df[f"{metric}_min"], df[f"{metric}_max"], color=color, alpha=0.2, linewidth=0)


def _style(ax, xlabel=None, ylabel=None):
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps are whole numbers
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)


def _save(fig, out_dir: pathlib.Path, kind: str, formats, dpi) -> list[pathlib.Path]:
    """Write each format atomically: a temporary file in out_dir, then a rename."""
    written = []
    for fmt in formats:
        target = out_dir / f"{kind}.{fmt}"
        with atomic_path(target) as tmp:
            # The temporary suffix hides the format from matplotlib, so name it.
            fig.savefig(tmp, format=fmt, dpi=dpi)
        written.append(target)
    return written


def _gamma_panel(ax, runs, title, drop_final_epoch, ylabel=GAMMA_LABEL):
    for i, run in enumerate(runs):
        _banded(ax, epoch_rows(run["epochs"], drop_final_epoch), "gamma", run["label"], f"C{i}")
    ax.axhline(0, color="black", linewidth=0.6)
    _style(ax, "epoch", ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small")


def plot_gamma(runs, study, drop_final_epoch):
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    _gamma_panel(ax, runs, study, drop_final_epoch)
    return fig


def plot_stacked(runs, study, drop_final_epoch):
    fig, axes = plt.subplots(3, 1, figsize=(6, 8), sharex=True, layout="constrained")
    panels = (("rsi", "RSI"), ("eb", "EB"), ("gamma", GAMMA_LABEL))
    for i, run in enumerate(runs):
        df = epoch_rows(run["epochs"], drop_final_epoch)
        for ax, (metric, _) in zip(axes, panels):
            _banded(ax, df, metric, run["label"], f"C{i}")
    for ax, (_, ylabel) in zip(axes, panels):
        ax.axhline(0, color="black", linewidth=0.6)
        _style(ax, ylabel=ylabel)
    axes[-1].set_xlabel("epoch")
    axes[0].set_title(study)
    axes[0].legend()
    return fig


def plot_lolr(runs, study, drop_final_epoch):
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    handles = []
    for i, run in enumerate(runs):
        df = epoch_rows(run["lolr"], drop_final_epoch).replace([np.inf, -np.inf], np.nan)
        x, c = df["epoch"].to_numpy(), f"C{i}"
        ax.plot(x, df["lolr_mean"], "-", marker=".", color=c)
        ax.plot(x, df["lolr_median"], "--", color=c)
        ax.plot(x, df["lr"], ":", color=c)
        handles.append(Line2D([], [], color=c, label=run["label"]))
    # Line style encodes the statistic; colour encodes the run.
    handles += [
        Line2D([], [], color="gray", linestyle="-", label="loLR (mean)"),
        Line2D([], [], color="gray", linestyle="--", label="loLR (median)"),
        Line2D([], [], color="gray", linestyle=":", label="lr used"),
    ]
    # loLR is negative where γ < 0; a log axis can only mask those points.
    ax.set_yscale("log", nonpositive="mask")
    _style(ax, "epoch", "learning rate")
    ax.set_title(study)
    ax.legend(handles=handles, fontsize="small")
    return fig


def plot_distance(runs, study, drop_final_epoch):
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for i, run in enumerate(runs):
        _banded(ax, epoch_rows(run["epochs"], drop_final_epoch), "d_norm", run["label"], f"C{i}")
    ax.set_yscale("log", nonpositive="mask")
    _style(ax, "epoch", "‖w_t − w*‖")
    ax.set_title(study)
    ax.legend()
    return fig


def _per_run_columns(runs, nrows, study):
    fig, axes = plt.subplots(
        nrows, len(runs), figsize=(max(5.0, 3.6 * len(runs)), max(3.6, 2.8 * nrows)),
        sharex="col", squeeze=False, layout="constrained",
    )
    fig.suptitle(study)
    return fig, axes


def plot_counterexamples(runs, study, drop_final_epoch):
    fig, axes = _per_run_columns(runs, 2, study)
    for j, run in enumerate(runs):
        df = run["steps"].sort_values("step")
        for ax, metric, ylabel in ((axes[0, j], "rsi", "RSI"), (axes[1, j], "gamma", GAMMA_LABEL)):
            ax.plot(df["step"], df[metric], color=f"C{j}", linewidth=0.8)
            ax.axhline(0, color="black", linewidth=0.6)
            _style(ax, ylabel=ylabel if j == 0 else None)
        axes[0, j].set_title(run["label"])
        axes[1, j].set_xlabel("step t")
    return fig


def plot_random_walk(runs, study, drop_final_epoch):
    fig, axes = _per_run_columns(runs, 1, study)
    for j, run in enumerate(runs):
        ax = axes[0, j]
        df = run["steps"].sort_values("step")
        T = len(df)
        df = df[df["step"] < T]
        t = df["step"].to_numpy(dtype=float)
        ax.plot(t, df["gamma"], color=f"C{j}", linewidth=0.8, label="measured")
        # Null model: w* is the endpoint of a random walk, so γ ≈ (T − t)^(−1/2).
        ax.plot(t, (T - t) ** -0.5, "--", color="black", label="(T − t)^(−1/2)")
        ax.set_yscale("log", nonpositive="mask")
        _style(ax, "step t", GAMMA_LABEL if j == 0 else None)
        ax.set_title(run["label"])
        ax.legend(fontsize="small")
    return fig


_PLOTTERS = {
    "gamma": plot_gamma,
    "stacked": plot_stacked,
    "lolr": plot_lolr,
    "distance": plot_distance,
    "counterexamples": plot_counterexamples,
    "random_walk": plot_random_walk,
}


def render_study(out_dir, study: str, kinds, runs: list[dict], compare: str,
                 drop_final_epoch: bool = True, formats=("png", "pdf"), dpi: int = 150) -> list[pathlib.Path]:
    """Write out_dir/{kind}.{fmt} for each kind and format; return the written paths.

    runs: dicts with keys label (already names the compared setting), run_id,
    steps, epochs, lolr (paths to the run's Parquet tables). compare names the
    compared setting; the labels carry it into the legends.
    """
    kinds = list(kinds)
    for kind in kinds:
        if kind not in _PLOTTERS:
            raise ValueError(f"unknown figure kind {kind!r}; expected one of {FIGURE_KINDS}")
    if not runs:
        raise ValueError(f"study {study!r} has no runs to plot")

    # Read every needed table first, so a missing one fails before anything is written.
    needed = {_TABLE_OF_KIND[k] for k in kinds}
    loaded = [
        {"label": r["label"], **{t: _read_table(r[t], r.get("run_id")) for t in sorted(needed)}}
        for r in runs
    ]

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in kinds:
        fig = _PLOTTERS[kind](loaded, study, drop_final_epoch)
        try:
            written += _save(fig, out_dir, kind, formats, dpi)
        finally:
            plt.close(fig)  # figures are kept alive by pyplot until closed
    return written


def render_overview(out_dir, studies: dict, drop_final_epoch: bool = True, formats=("png", "pdf"),
                    dpi: int = 150) -> list[pathlib.Path]:
    """Figure 1 of the paper: γ per epoch, one panel per study, one line per run.

    studies: {study name: runs}, runs as for render_study (only `epochs` is read).
    """
    if not studies:
        raise ValueError("no study to draw in the overview")
    panels = {
        name: [{"label": r["label"], "epochs": _read_table(r["epochs"], r.get("run_id"))} for r in runs]
        for name, runs in studies.items()
    }
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, layout="constrained")
    for j, (ax, (name, runs)) in enumerate(zip(axes[0], panels.items())):
        _gamma_panel(ax, runs, name, drop_final_epoch, ylabel=GAMMA_LABEL if j == 0 else None)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _save(fig, out_dir, "gamma", formats, dpi)
    finally:
        plt.close(fig)
