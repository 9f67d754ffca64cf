"""loLR-shaped schedules: a run's lr per epoch is c x the median loLR its source run measured in that epoch.

The paper suggests loLR could shape schedules without testing it. The source is another run of the
config (config key lolr_from, resolved to the source's run id, which names the new run too); its
lolr.parquet is read by each job that trains, so Snakemake orders the new run after the source's
aggregation. Only the SGD family takes one (config._lolr_source says why).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from nowrongturns.config.settings import RunSettings
from nowrongturns.storage.files import read_table


def schedule_values(path, epochs: int, scale: float, smoothing: int = 0) -> list[float]:
    """lr_e = scale x (the source's median loLR of epoch e, after a centred running median of half-width
    `smoothing` epochs over all of the source's epochs), for e < epochs."""
    table, _ = read_table(path)
    medians = table.sort_values("epoch")["lolr_median"].astype(np.float64)
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
    values = schedule_values(run.lolr_path, run.epochs, run.lolr_scale, run.lolr_smoothing)
    return replace(run, lolr_values=tuple(values))
