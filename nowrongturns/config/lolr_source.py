"""The run a lolr schedule takes its learning rate from, found by its study and label, and checked."""
from __future__ import annotations

from nowrongturns.config.describe import SGD_FAMILY
from nowrongturns.config.errors import ConfigError
from nowrongturns.config.runs import run_hash


def lolr_source(by_label: dict, settings: dict, where: str) -> dict:
    """The settings of the run a lolr schedule takes its lr from, checked for use as one."""
    if settings["optimizer"] not in SGD_FAMILY:
        raise ConfigError(
            f"config key {where}.schedule = 'lolr': loLR is the best step size along G for a step -lr·G, "
            f"which {settings['optimizer']} does not take (it rescales each coordinate of G), so loLR cannot "
            f"set its learning rate; use sgd, momentum or nesterov")
    wanted = settings.get("lolr_from")
    if not wanted:
        raise ConfigError(f"config key {where}.lolr_from = None: schedule lolr needs the run whose loLR it "
                          f"follows, as <study>/<run label>")
    for key in ("lr_scaling", "final_low_lr_epoch"):
        if settings[key] not in ("none", False):
            raise ConfigError(f"config key {where}.{key} = {settings[key]!r}: schedule lolr takes every epoch's lr "
                              f"from {wanted}; it cannot also be scaled")
    study, _, label = wanted.partition("/")
    labels = [lb for (s, lb) in by_label if s == study]
    if not labels:
        raise ConfigError(f"config key {where}.lolr_from = {wanted!r}: no study {study!r} "
                          f"(studies: {', '.join(sorted({s for s, _ in by_label}))})")
    if (study, label) not in by_label:
        raise ConfigError(f"config key {where}.lolr_from = {wanted!r}: study {study!r} has no run labelled "
                          f"{label!r} (its labels: {', '.join(labels)})")
    sources = {run_hash(s): s for s in by_label[(study, label)]}
    if len(sources) > 1:
        raise ConfigError(f"config key {where}.lolr_from = {wanted!r}: {len(sources)} runs of study {study!r} have "
                          f"that label; give the study a `compare` key that tells them apart")
    (source,) = sources.values()
    if source.get("task_class") != settings.get("task_class"):  # two plug-in tasks: another data set each
        raise ConfigError(f"config key {where}.lolr_from = {wanted!r}: that run trains task "
                          f"{source.get('task_class')}, this one {settings.get('task_class')}")
    if source["dataset"] != settings["dataset"]:
        raise ConfigError(f"config key {where}.lolr_from = {wanted!r}: that run is on dataset {source['dataset']!r}, "
                          f"this one on {settings['dataset']!r}")
    if source["schedule"] == "lolr":
        raise ConfigError(f"config key {where}.lolr_from = {wanted!r}: that run follows a lolr schedule itself; "
                          f"name a run with a schedule of its own")
    if source["epochs"] < settings["epochs"]:
        raise ConfigError(f"config key {where}.lolr_from = {wanted!r}: that run has {source['epochs']} epochs of "
                          f"loLR, this one needs {settings['epochs']}")
    return source
