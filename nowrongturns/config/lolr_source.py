"""The run a lolr schedule takes its learning rate from, found by its study and label, and checked; and the
table its lr is derived from."""
from __future__ import annotations

from nowrongturns.config.describe import SGD_FAMILY
from nowrongturns.config.errors import ConfigError
from nowrongturns.config.fork_specs import fork_id
from nowrongturns.config.runs import run_hash
from nowrongturns.storage import paths

# How train/lolr_schedule.py turns the source's table into lrs. It joins the scheduled run's name
# (run setting lolr_derivation), so a change of method names new runs instead of reusing ones derived
# the old way: bump it with any change to schedule_values.
#   v2: per-epoch median loLR; against the own w*, epochs whose lr is at least half their median loLR
#       (the step's own share, by construction) are held at the last epoch before them.
LOLR_DERIVATION = "epoch-median/v2"


def lolr_table(results: str, source_id: str, target: str) -> str:
    """The table whose per-epoch median loLR sets the lr: the source's lolr.parquet against its own w*, its
    forks.parquet against a fork's w*′."""
    return paths.table(paths.run_dir(results, source_id), "lolr" if target == "own" else "forks")


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
    target = settings.get("lolr_target", "own")
    if target != "own" and target not in [fork_id(f) for f in source.get("forks", [])]:
        raise ConfigError(f"config key {where}.lolr_target = {target!r}: {wanted} declares no such fork (its forks: "
                          f"{[fork_id(f) for f in source.get('forks', [])] or 'none'}); add forks: [{{at_epoch: 0, "
                          f"seed: S}}] to it (at epoch 0, so that none of its gradients built the endpoint)")
    return source
