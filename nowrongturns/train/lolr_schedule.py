"""loLR-shaped schedules: a run's lr per epoch is c x the median loLR its source run measured in that epoch.

The paper suggests loLR could shape schedules without testing it. The source is another run of the
config (config key lolr_from, resolved to the source's run id, which names the new run too); its
lolr.parquet is read by each job that trains, so Snakemake orders the new run after the source's
aggregation. Only the SGD family takes one (config._lolr_source says why).

Against the source's own w*, loLR holds the source's own step: for plain SGD loLR_t = lr_t + Σ_{s>t} lr_s G_t·G_s
/ ‖G_t‖² exactly, and at the last step loLR = lr. Where the source's lr is at least half its median loLR
(geometry.metrics.OWN_STEP_LIMIT, the table's own_step_dominant), the schedule would restate the source's
own ending, so those epochs are held at the value of the last epoch before them. Against a fork's w*′
(lolr_target: at0-seed<S>, an endpoint the source's gradients did not build) every epoch is taken as measured.
The method is versioned (config.lolr_source.LOLR_DERIVATION) and joins the run's name.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from nowrongturns.config.settings import RunSettings
from nowrongturns.geometry.metrics import OWN_STEP_LIMIT, own_step_share
from nowrongturns.storage.files import read_table


def source_medians(path, target: str = "own") -> pd.Series:
    """The source's median loLR per epoch (index: epoch) against its own w*, with the epochs where its own step
    dominates held at the last value before them; or, target a fork id, against that fork's w*′ as measured."""
    table, _ = read_table(path)
    if target != "own":
        rows = table[table["fork"] == target].sort_values("epoch")
        if rows.empty or int(rows["epoch"].iloc[0]) != 0:
            raise ValueError(f"{path}: no loLR against fork {target} from epoch 0 (forks here: "
                             f"{sorted(table['fork'].unique())})")
        return rows.set_index("epoch")["lolr_fork_median"].astype(np.float64)
    rows = table.sort_values("epoch")
    medians = rows.set_index("epoch")["lolr_median"].astype(np.float64)
    dominant = own_step_share(rows["lr"], rows["lolr_median"]) >= OWN_STEP_LIMIT
    if dominant.any():
        first = int(np.argmax(dominant))
        if first == 0:
            raise ValueError(f"{path}: in epoch 0 the source's lr is already {OWN_STEP_LIMIT:g} of its median loLR or "
                             f"more, so its loLR against its own w* restates its own steps; follow a fork "
                             f"(lolr_target) or another run")
        held = medians.iloc[first - 1]
        medians = medians.where(~dominant, held)
    return medians


def schedule_values(path, epochs: int, scale: float, smoothing: int = 0, target: str = "own") -> list[float]:
    """lr_e = scale x (the source's median loLR of epoch e (source_medians), after a centred running median of
    half-width `smoothing` epochs over all of the source's epochs), for e < epochs. At the edges the window
    shrinks to the epochs there are (pandas' min_periods=1): epoch 0 takes the median of epochs 0..smoothing."""
    medians = source_medians(path, target).reset_index(drop=True)
    if len(medians) < epochs:
        raise ValueError(f"{path}: loLR of {len(medians)} epochs, the run needs {epochs}")
    if smoothing:
        medians = medians.rolling(2 * smoothing + 1, center=True, min_periods=1).median()
    values = (scale * medians.to_numpy())[:epochs]
    for epoch, lr in enumerate(values):
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"{path}: the median loLR of epoch {epoch} gives lr = {float(lr)!r}, not a positive learning "
                             f"rate (γ < 0 on most of its steps?); raise lolr_smoothing or follow another run")
    return [float(v) for v in values]


def with_schedule(run: RunSettings) -> RunSettings:
    """The settings with the per-epoch lr of a lolr schedule loaded (`lolr_values`); others unchanged."""
    if run.schedule != "lolr" or run.lolr_values is not None:
        return run
    if not run.lolr_path:
        raise ValueError(f"run setting lolr_path is missing for a lolr schedule (source {run.lolr_source}); "
                         f"jobs take it from the config (config.runtime_settings)")
    values = schedule_values(run.lolr_path, run.epochs, run.lolr_scale, run.lolr_smoothing, run.lolr_target)
    return replace(run, lolr_values=tuple(values))
