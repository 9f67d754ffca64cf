"""Figures of a study: per-epoch and per-step geometry of the optimization path.

Each figure kind (nowrongturns/config/figure_kinds.py) reproduces one figure of "No Wrong Turns"
(Guille-Escuret et al.), or goes beyond it, from the Parquet tables written for each run. Every
figure says what it shows on its own: its title names the data set, model, optimizer and lr in force
and what varies (describe.title); legends give the lr in force where the config's lr was scaled.
"""
from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")  # headless: the pipeline runs without a display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from nowrongturns.config import describe
from nowrongturns.config.figure_kinds import KINDS, tables
from nowrongturns.storage.files import atomic_path, read_table

FIGURE_KINDS = tuple(KINDS)

GAMMA_LABEL = "γ = cos(G, w − w*)"


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


def _gamma_panel(ax, runs, drop_final_epoch, ylabel=GAMMA_LABEL):
    for i, run in enumerate(runs):
        _banded(ax, epoch_rows(run["epochs"], drop_final_epoch), "gamma", run["label"], f"C{i}")
    ax.axhline(0, color="black", linewidth=0.6)
    _style(ax, "epoch", ylabel)
    ax.legend(fontsize="small")


def plot_gamma(runs, drop_final_epoch):
    fig, ax = plt.subplots(figsize=(6, 4.4), layout="constrained")
    _gamma_panel(ax, runs, drop_final_epoch)
    return fig


def plot_stacked(runs, drop_final_epoch):
    fig, axes = plt.subplots(3, 1, figsize=(6, 8), sharex=True, layout="constrained")
    panels = (("rsi", "RSI"), ("eb", "EB"), ("gamma", GAMMA_LABEL))
    for i, run in enumerate(runs):
        df = epoch_rows(run["epochs"], drop_final_epoch)
        for ax, (metric, _) in zip(axes, panels, strict=True):
            _banded(ax, df, metric, run["label"], f"C{i}")
    for ax, (_, ylabel) in zip(axes, panels, strict=True):
        ax.axhline(0, color="black", linewidth=0.6)
        _style(ax, ylabel=ylabel)
    axes[-1].set_xlabel("epoch")
    axes[0].legend()
    return fig


def _sgd_family(runs):
    return [r for r in runs if r["about"]["sgd_family"]]


def plot_lolr(runs, drop_final_epoch):
    """loLR = RSI/EB² is the best step size along −G, so it prices the step −lr·G of the SGD family. Adam
    rescales each coordinate of G: its lr is not a step size along G, and the two do not compare. Such runs
    are left out and named in a note."""
    fig, ax = plt.subplots(figsize=(6, 4.6), layout="constrained")
    drawn = _sgd_family(runs)
    left_out = [r for r in runs if r not in drawn]
    handles = []
    for i, run in enumerate(drawn):
        df = epoch_rows(run["lolr"], drop_final_epoch).replace([np.inf, -np.inf], np.nan)
        x, c = df["epoch"].to_numpy(), f"C{i}"
        ax.plot(x, df["lolr_mean"], "-", marker=".", color=c)
        ax.plot(x, df["lolr_median"], "--", color=c)
        ax.plot(x, df["lr"], ":", color=c)
        handles.append(Line2D([], [], color=c, label=run["label"]))
    # Line style encodes the statistic; colour encodes the run.
    if drawn:
        handles += [
            Line2D([], [], color="gray", linestyle="-", label="loLR (mean)"),
            Line2D([], [], color="gray", linestyle="--", label="loLR (median)"),
            Line2D([], [], color="gray", linestyle=":", label="lr in force"),
        ]
        # loLR is negative where γ < 0; a log axis can only mask those points.
        ax.set_yscale("log", nonpositive="mask")
        ax.legend(handles=handles, fontsize="small")
    else:
        ax.text(0.5, 0.5, "no SGD-family run to draw", ha="center", va="center", transform=ax.transAxes)
    _style(ax, "epoch", "learning rate")
    if left_out:
        names = ", ".join(r["label"] if r["about"]["optimizer"] in r["label"] else f"{r['label']} ({r['about']['optimizer']})"
                          for r in left_out)
        fig.supxlabel(f"Not drawn: {names}. loLR prices a step −lr·G; an adaptive optimizer rescales\n"
                      f"each coordinate of G, so its lr is no step size along G to compare with.",
                      fontsize="small", color="dimgray")
    return fig


def plot_distance(runs, drop_final_epoch):
    fig, ax = plt.subplots(figsize=(6, 4.4), layout="constrained")
    for i, run in enumerate(runs):
        _banded(ax, epoch_rows(run["epochs"], drop_final_epoch), "d_norm", run["label"], f"C{i}")
    ax.set_yscale("log", nonpositive="mask")
    _style(ax, "epoch", "‖w_t − w*‖")
    ax.legend()
    return fig


def _per_run_columns(runs, nrows):
    fig, axes = plt.subplots(
        nrows, len(runs), figsize=(max(5.6, 3.6 * len(runs)), max(4.0, 2.8 * nrows + 0.6)),
        sharex="col", squeeze=False, layout="constrained",
    )
    return fig, axes


def plot_counterexamples(runs, drop_final_epoch):
    fig, axes = _per_run_columns(runs, 2)
    for j, run in enumerate(runs):
        df = run["steps"].sort_values("step")
        for ax, metric, ylabel in ((axes[0, j], "rsi", "RSI"), (axes[1, j], "gamma", GAMMA_LABEL)):
            ax.plot(df["step"], df[metric], color=f"C{j}", linewidth=0.8)
            ax.axhline(0, color="black", linewidth=0.6)
            _style(ax, ylabel=ylabel if j == 0 else None)
        axes[0, j].set_title(run["label"])
        axes[1, j].set_xlabel("step t")
    return fig


def plot_random_walk(runs, drop_final_epoch):
    fig, axes = _per_run_columns(runs, 1)
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


FULL_BATCH_STYLES = {"eval": ("--", "full batch, eval mode (clean objective)"),
                     "train_independent": (":", "full batch, train mode, independent draws"),
                     "train_own_draws": ("-.", "full batch, train mode, the run's own draws (biased)")}


def plot_full_batch(runs, drop_final_epoch):
    """Full-batch γ (each mode) against the minibatch γ per epoch; below, the noise's share of the gradient
    energy, 1 − ‖∇F‖² / E‖G‖², on the independent draws."""
    fig, axes = plt.subplots(2, 1, figsize=(6.4, 7), sharex=True, layout="constrained")
    for i, run in enumerate(runs):
        df = epoch_rows(run["full_batch"], drop_final_epoch)
        df = df[df["target"] == "w*"]
        c = f"C{i}"
        independent = df[df["mode"] == "train_independent"]
        axes[0].plot(independent["epoch"], independent["gamma_minibatch"], "-", marker=".", color=c)
        for mode, (style, _) in FULL_BATCH_STYLES.items():
            part = df[df["mode"] == mode]
            axes[0].plot(part["epoch"], part["gamma"], style, marker="x", color=c)
        axes[1].plot(independent["epoch"], independent["noise_share"], ":", marker="x", color=c)
    handles = [Line2D([], [], color=f"C{i}", label=run["label"]) for i, run in enumerate(runs)] + [
        Line2D([], [], color="gray", linestyle="-", marker=".", label="minibatch γ (epoch mean)")] + [
        Line2D([], [], color="gray", linestyle=style, marker="x", label=label)
        for style, label in FULL_BATCH_STYLES.values()]
    axes[0].axhline(0, color="black", linewidth=0.6)
    axes[1].set_ylim(0, 1.02)
    _style(axes[0], ylabel=GAMMA_LABEL)
    _style(axes[1], "epoch (full batch at its start)", "noise share of E‖G‖², 1 − ‖∇F‖² / E‖G‖²")
    axes[0].legend(handles=handles, fontsize="small")
    return fig


def plot_forks(runs, drop_final_epoch):
    """γ against the run's own w* and against each fork's w*′, with the random walk's prediction for w* and the
    geometric null for w*′ (γ · cos(d, d′): what the distances alone predict). The final epoch stays: against w* it is where the induced bias is largest, against w*′ it is as any other."""
    fig, axes = _per_run_columns(runs, 1)
    for j, run in enumerate(runs):
        ax = axes[0, j]
        df = epoch_rows(run["forks"], drop_final_epoch=False)
        for k, (fid, part) in enumerate(df.groupby("fork", sort=False)):
            if k == 0:
                ax.plot(part["epoch"], part["gamma_own_mean"], "-", marker=".", color="C0", label="γ against own w*")
                ax.plot(part["epoch"], part["random_walk_gamma_own"], "--", color="black",
                        label="random walk, own w*: (T − t)^(−1/2)")
            c = f"C{k + 1}"
            x = part["epoch"].to_numpy()
            ax.plot(x, part["gamma_fork_mean"], "-", marker="x", color=c, label=f"γ against fork {fid}")
            ax.plot(x, part["gamma_fork_null_mean"], ":", color=c, label=f"geometric null for {fid}: γ·cos(d, d′)")
            ax.fill_between(x, part["gamma_fork_mean"] - part["gamma_fork_std"],
                            part["gamma_fork_mean"] + part["gamma_fork_std"], color=c, alpha=0.2, linewidth=0)
        ax.axhline(0, color="black", linewidth=0.6)
        _style(ax, "epoch", GAMMA_LABEL if j == 0 else None)
        ax.set_title(run["label"])
        ax.legend(fontsize="small")
    return fig


def plot_update(runs, drop_final_epoch):
    """Per run, side by side: γ of the minibatch gradient, cos(G, d), and of the update the optimizer took,
    γ_u = cos(−u, d) (mean and min–max band per epoch); below, the fraction of ‖d‖ the update covers along d."""
    fig, axes = _per_run_columns(runs, 2)
    for j, run in enumerate(runs):
        df = epoch_rows(run["epochs"], drop_final_epoch)
        _banded(axes[0, j], df, "gamma", "gradient: γ = cos(G, d)", "C0")
        _banded(axes[0, j], df, "cos_u_d", "update: γ_u = cos(−u, d)", "C3")
        axes[1, j].plot(df["epoch"], df["u_rsi_mean"], marker=".", color="C3")
        axes[0, j].axhline(0, color="black", linewidth=0.6)
        axes[0, j].set_title(run["label"])
        axes[0, j].legend(fontsize="small")
        _style(axes[0, j], ylabel="cosine with d = w_t − w*" if j == 0 else None)
        _style(axes[1, j], "epoch", "−u·d / ‖d‖² (mean)" if j == 0 else None)
    return fig


def plot_sharpness(runs, drop_final_epoch):
    """Per run: λ_max of the loss's Hessian against 2/lr at the measured epoch starts (top), and the epoch's median
    loLR against 2/λ_max (bottom), on log scales."""
    fig, axes = _per_run_columns(runs, 2)
    for j, run in enumerate(runs):
        df = epoch_rows(run["sharpness"], drop_final_epoch)
        top, bottom = axes[0, j], axes[1, j]
        top.plot(df["epoch"], df["lambda_max"], marker=".", color="C0", label="λ_max (power iteration)")
        top.plot(df["epoch"], df["two_over_lr"], "--", color="black", label="2 / lr in force")
        bottom.plot(df["epoch"], df["lolr_median"], marker=".", color="C1", label="median loLR of the epoch")
        bottom.plot(df["epoch"], df["two_over_lambda"], "--", color="C0", label="2 / λ_max")
        for ax in (top, bottom):
            ax.set_yscale("log", nonpositive="mask")
            ax.legend(fontsize="small")
        top.set_title(run["label"])
        _style(top, ylabel="sharpness" if j == 0 else None)
        _style(bottom, "epoch (estimate at its start)", "step size" if j == 0 else None)
    return fig


def plot_blocks(runs, drop_final_epoch):
    """Per run, a heat map of γ_b, the mean over each epoch's steps of cos(G_b, d_b) of each parameter block
    (rows, in the flat order: input side at the top) against epoch (columns); the colour scale is symmetric
    about 0."""
    fig, axes = _per_run_columns(runs, 1)
    for j, run in enumerate(runs):
        df = epoch_rows(run["blocks"], drop_final_epoch)
        grid = df.pivot_table(index=["block_index", "block"], columns="epoch", values="gamma_mean").sort_index()
        ax = axes[0, j]
        limit = float(np.nanmax(np.abs(grid.to_numpy()))) or 1.0
        image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                          interpolation="nearest",
                          extent=(grid.columns.min() - 0.5, grid.columns.max() + 0.5, len(grid) - 0.5, -0.5))
        names = [name for _, name in grid.index]
        every = max(1, len(names) // 30)  # at most about 30 labels
        ax.set_yticks(range(0, len(names), every), names[::every], fontsize="x-small")
        ax.set_title(run["label"])
        _style(ax, "epoch", "parameter block (module)" if j == 0 else None)
        ax.grid(False)
        fig.colorbar(image, ax=ax, label="γ_b = cos(G_b, d_b), epoch mean")
    return fig


def plot_path(runs, drop_final_epoch):
    """The straight path from w_t to w*: full-batch training loss and γ toward w* against α, one line per pair."""
    fig, axes = plt.subplots(2, 1, figsize=(6.4, 7), sharex=True, layout="constrained")
    k = 0
    for run in runs:
        for t, part in run["path"].groupby("from_epoch", sort=True):
            part = part.sort_values("alpha")
            bump = "monotone" if bool(part["monotone"].iloc[0]) else f"bump {part['max_bump'].iloc[0]:.2g}"
            start = "w0" if t == 0 else f"w_{t}"
            bn = part["bn_statistics"].iloc[0] if "bn_statistics" in part else "none"
            bn = "" if bn == "none" else f", BatchNorm statistics {'recomputed' if bn == 'recompute' else 'interpolated'}"
            label = f"{run['label']}: {start} → w* ({bump}{bn})"
            axes[0].plot(part["alpha"], part["train_loss"], marker=".", color=f"C{k}", label=label)
            axes[1].plot(part["alpha"], part["gamma"], marker=".", color=f"C{k}")
            k += 1
    axes[0].set_yscale("log", nonpositive="mask")
    axes[1].axhline(0, color="black", linewidth=0.6)
    _style(axes[0], ylabel="full-batch training loss (eval mode)")
    _style(axes[1], "α in w(α) = (1 − α)·w_t + α·w*", "full-batch γ toward w*")
    axes[0].xaxis.set_major_locator(matplotlib.ticker.AutoLocator())  # α is not a whole number
    axes[1].xaxis.set_major_locator(matplotlib.ticker.AutoLocator())
    axes[0].legend(fontsize="small")
    return fig


def _val_metric(history: pd.DataFrame) -> str | None:
    for name in ("val_acc", "val_pixel_acc", "val_ppl", "val_loss", "full_loss"):
        if name in history.columns:
            return name
    return None


def plot_schedules(runs, drop_final_epoch):
    """lr, the validation metric and γ per epoch for runs that differ in their schedule (a loLR-shaped one
    among them); the legend gives each run's final training loss and validation metric."""
    fig, axes = plt.subplots(3, 1, figsize=(6.4, 9), sharex=True, layout="constrained")
    metric = None
    for i, run in enumerate(runs):
        history = run["history"].sort_values("epoch")
        metric = metric or _val_metric(history)
        c = f"C{i}"
        last = history.iloc[-1]
        final = f"final train loss {last['train_loss']:.3g}"
        if metric:
            final += f", {metric} {last[metric]:.3g}"
        axes[0].plot(history["epoch"], history["lr"], marker=".", color=c, label=f"{run['label']} ({final})")
        if metric:
            axes[1].plot(history["epoch"], history[metric], marker=".", color=c)
        _banded(axes[2], epoch_rows(run["epochs"], drop_final_epoch), "gamma", run["label"], c)
    axes[0].set_yscale("log", nonpositive="mask")
    _style(axes[0], ylabel="lr in force (last step of the epoch)")
    _style(axes[1], ylabel=metric or "no validation metric")
    _style(axes[2], "epoch", GAMMA_LABEL)
    axes[2].axhline(0, color="black", linewidth=0.6)
    axes[0].legend(fontsize="small")
    return fig


_PLOTTERS = {
    "full_batch": plot_full_batch,
    "forks": plot_forks,
    "path": plot_path,
    "schedules": plot_schedules,
    "update": plot_update,
    "sharpness": plot_sharpness,
    "blocks": plot_blocks,
    "gamma": plot_gamma,
    "stacked": plot_stacked,
    "lolr": plot_lolr,
    "distance": plot_distance,
    "counterexamples": plot_counterexamples,
    "random_walk": plot_random_walk,
}


def load_runs(runs: list[dict], kinds) -> list[dict]:
    """Each run's tables that the kinds read, keyed by table name, with its legend and settings (about).
    Everything is read first, so a missing table fails before anything is written."""
    needed = sorted({t for k in kinds for t in tables(k)})
    loaded = []
    for r in runs:
        if "about" not in r:
            raise ValueError(f"run {r.get('run_id')!r}: no 'about' (describe.about of its settings), which "
                             f"titles and legends need")
        loaded.append({"label": describe.legend(r["label"], r["about"]), "about": r["about"],
                       **{t: _read_table(r[t], r.get("run_id")) for t in needed}})
    return loaded


def draw(kind: str, loaded: list[dict], study: str, compare: str | None, drop_final_epoch: bool = True):
    """The figure of one kind (a matplotlib Figure; the caller closes it), titled by what it shows."""
    if kind not in _PLOTTERS:
        raise ValueError(f"unknown figure kind {kind!r}; expected one of {FIGURE_KINDS}")
    fig = _PLOTTERS[kind](loaded, drop_final_epoch)
    drawn = (_sgd_family(loaded) if kind == "lolr" else loaded) or loaded  # the title describes the runs drawn
    fig.suptitle(describe.title(kind, study, [r["about"] for r in drawn], compare), fontsize="medium")
    return fig


def render_study(out_dir, study: str, kinds, runs: list[dict], compare: str | None,
                 drop_final_epoch: bool = True, formats=("png", "pdf"), dpi: int = 150) -> list[pathlib.Path]:
    """Write out_dir/{kind}.{fmt} for each kind and format; return the written paths.

    runs: dicts with keys label (already names the compared setting), run_id, about (describe.about of
    its settings) and one path per table its kinds read (figure_kinds). compare: the setting the labels
    name, which the title gives as what varies (None: the settings that differ between the runs).
    """
    kinds = list(kinds)
    for kind in kinds:
        if kind not in _PLOTTERS:
            raise ValueError(f"unknown figure kind {kind!r}; expected one of {FIGURE_KINDS}")
    if not runs:
        raise ValueError(f"study {study!r} has no runs to plot")
    loaded = load_runs(runs, kinds)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in kinds:
        fig = draw(kind, loaded, study, compare, drop_final_epoch)
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
    panels = {name: load_runs(runs, ["gamma"]) for name, runs in studies.items()}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False, layout="constrained")
    for j, (ax, (name, runs)) in enumerate(zip(axes[0], panels.items(), strict=True)):
        _gamma_panel(ax, runs, drop_final_epoch, ylabel=GAMMA_LABEL if j == 0 else None)
        shared = " · ".join(dict.fromkeys(f"{r['about']['dataset']} · {r['about']['model']}" for r in runs))
        ax.set_title(f"{name}\n{shared}", fontsize="medium")
    fig.suptitle("γ per epoch, one panel per study (Figure 1)")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _save(fig, out_dir, "gamma", formats, dpi)
    finally:
        plt.close(fig)
