"""What a figure's reader needs to know about its runs: the lr in force, what the runs share and what
varies, in titles, legends and report captions. Torch-free: the Snakefile passes these to the jobs.
"""
from __future__ import annotations

import math

from nowrongturns.config import figure_kinds, registry
from nowrongturns.config.settings import RunSettings

# lr_scaling sqrt_batch: the lr in force is lr × √(batch_size / REFERENCE_BATCH).
REFERENCE_BATCH = 64
# The SGD family: its step is lr·G (with momentum, a running sum of such steps), which loLR prices.
SGD_FAMILY = ("sgd", "momentum", "nesterov")
# Settings a reader compares runs by, in the order a title names them.
_SHOWN = ("dataset", "model", "optimizer", "lr")
# Settings that say nothing about the trajectory a reader sees (they are names of other things).
_INTERNAL = frozenset({"data_fingerprint", "tokenizer_fingerprint", "lolr_source", "lolr_path", "lolr_derivation",
                       "forks", "task_digest", "data_cache"})


def lr_in_force(run: RunSettings) -> float | None:
    """The lr the schedule starts from: `lr`, scaled by the batch size under lr_scaling sqrt_batch.
    None for a lolr schedule, whose lr comes from another run's loLR epoch by epoch."""
    if run.schedule == "lolr":
        return None
    lr = run.lr
    if run.lr_scaling == "sqrt_batch":
        lr *= math.sqrt(run.batch_size / REFERENCE_BATCH)
    return lr


def fmt(value) -> str:
    """A number as run names and labels show it: 0.05, 1e6, 1e-07 (no '+', which run ids exclude)."""
    return f"{value:g}".replace("e+", "e") if isinstance(value, float) else str(value)


def _lr_text(run: RunSettings) -> str:
    lr = lr_in_force(run)
    return f"{fmt(run.lolr_scale)}×loLR" if lr is None else fmt(lr)


def model_name(run: RunSettings) -> str:
    widths = registry.model_row(run.model).widths
    return run.model + (f"×{fmt(run.width_multiplier)}" if widths else "")


def about(settings: dict) -> dict:
    """The settings a reader compares runs by, as text: what legends, titles and captions show.

    settings: the run's normalised dict (config.trajectory_settings), not a RunSettings: `varying` lists the
    settings the run uses, the keys that dict kept, and a RunSettings fills in every other one."""
    run = RunSettings.from_dict(settings)
    plugin = run.dataset == "plugin"  # a plug-in task: its class is both data and model
    out = {
        "dataset": run.task_class if plugin else run.dataset,
        "model": "plug-in task" if plugin else model_name(run),
        "optimizer": run.optimizer,
        "lr": _lr_text(run),
        "schedule": run.schedule,
        "batch_size": str(run.batch_size) if registry.uses(run.dataset, run.model, "batch_size") else "–",
        "epochs": str(run.epochs),
        "seed": str(run.seed),
        "scaled": run.lr_scaling != "none",
        "sgd_family": run.optimizer in SGD_FAMILY,
    }
    out["varying"] = {k: fmt(v) for k, v in settings.items() if k not in _INTERNAL}  # for `varies`
    return out


def varies(abouts: list[dict], compare: str | None) -> list[str]:
    """The settings that differ between the runs: the study's compare key, or those whose values differ."""
    if compare:
        return [compare]
    keys = sorted({k for a in abouts for k in a["varying"]})
    return [k for k in keys if len({a["varying"].get(k) for a in abouts}) > 1]


def _joined(abouts: list[dict], key: str) -> str:
    values = list(dict.fromkeys(a[key] for a in abouts))
    return "/".join(values)


def title(kind: str, study: str, abouts: list[dict], compare: str | None) -> str:
    """Two lines: the study and what the figure shows; the data set, model, optimizer and lr in force
    (several values joined by '/') and what varies between the runs."""
    shared = " · ".join(f"lr {_joined(abouts, k)}" if k == "lr" else _joined(abouts, k) for k in _SHOWN)
    changing = varies(abouts, compare)
    line = shared + (f" — varies: {', '.join(changing)}" if changing else "")
    return f"{study}: {figure_kinds.KINDS[kind].shows}\n{line}"


def legend(label: str, about_run: dict) -> str:
    """The run's label, with the lr in force where it is not the lr the config gives (lr_scaling)."""
    return f"{label} (lr {about_run['lr']} in force)" if about_run["scaled"] else label


def runs_rst(runs: list[dict]) -> str:
    """The runs of a figure as an RST table for its report caption: label, settings, run folder."""
    head = ("legend", "dataset", "model", "optimizer", "lr in force", "schedule", "batch", "epochs", "seed", "run")
    rows = [head] + [
        (f"``{r['label']}``", *(r["about"][k] for k in ("dataset", "model", "optimizer", "lr", "schedule", "batch_size",
                                               "epochs", "seed")), f"``{r['run_id']}``")
        for r in runs
    ]
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return "\n".join(lines) + "\n"
