"""A run from its settings: which settings name it, its content-addressed id, and the checks of one run's settings."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

from nowrongturns.config import registry
from nowrongturns.config.describe import fmt as _fmt
from nowrongturns.config.describe import lr_in_force
from nowrongturns.config.errors import ConfigError
from nowrongturns.config.schema import validate
from nowrongturns.config.settings import RunSettings

# Where the data lives and how it is fetched do not change the trajectory: not in the run's name,
# nor in the rules' params (their jobs read them from the config: runtime_settings). What the data
# holds is in the name, as its fingerprint.
# A plug-in's path is where its code lives: its class and content name the run (task_class, task_digest).
# So is the path of init_from weights: their digest names the run (init_digest).
# So is a tokenizer folder's: its content names the run (tokenizer_fingerprint).
# data_cache is where the results folder keeps data decoded once per fingerprint (tasks/loaders/decoded_cache.py).
RUNTIME_KEYS = ("data_dir", "data_path", "num_workers", "eval_batch_size", "lolr_path", "task", "init_from", "tokenizer",
                "data_cache")
# What is measured against a run, not how it is trained: not in its name either (forks are jobs of their own).
MEASUREMENT_KEYS = ("forks",)

# Settings that only matter for some choices; dropped before hashing so that, say, an Adam run does
# not change identity when `momentum` is edited. Those only some data sets or models use are listed in
# their registry rows (registry.uses).
_ONLY_FOR = {
    # CPU runs ignore it, and the default is left out so that run names predating the key are kept.
    "gpu_kernels": lambda r: r["device"] != "cpu" and r["gpu_kernels"] != "deterministic",
    "momentum": lambda r: r["optimizer"] in ("momentum", "nesterov"),
    "beta1": lambda r: r["optimizer"] in ("adam", "adamw"),
    "beta2": lambda r: r["optimizer"] in ("adam", "adamw"),
    "warmup_epochs": lambda r: r["schedule"] == "cosine",
    "step_epochs": lambda r: r["schedule"] == "step",
    "step_gamma": lambda r: r["schedule"] == "step",
    "warmup_steps": lambda r: r["schedule"] == "wsd",
    "decay_fraction": lambda r: r["schedule"] == "wsd",
    "decay_shape": lambda r: r["schedule"] == "wsd",
    # Off by default: dropped when off, so adding them left every earlier run's hash as it was.
    "lr_scaling": lambda r: r["lr_scaling"] != "none",
    "final_low_lr_epoch": lambda r: r["final_low_lr_epoch"],
    # A lolr schedule takes every epoch's lr from its source run (lolr_source, its id) instead of `lr`.
    "lr": lambda r: r["schedule"] != "lolr",
    "lolr_from": lambda r: False,  # resolved to lolr_source, which names the source by content
    "lolr_scale": lambda r: r["schedule"] == "lolr",
    "lolr_smoothing": lambda r: r["schedule"] == "lolr",
    "lolr_target": lambda r: r["schedule"] == "lolr",
    "forks": lambda r: bool(r["forks"]),
    "world_size": lambda r: r["world_size"] != 1,
    "init_from": lambda r: r["init_from"] is not None,
    "init_prefix_map": lambda r: r["init_from"] is not None,  # one process: the names runs had before ranks existed
}
_NUMBER_KEYS = {"dropout", "lr", "lolr_scale", "momentum", "beta1", "beta2", "weight_decay", "grad_clip", "step_gamma", "decay_fraction", "init_scale",
                "width_multiplier"}

# What a run id may hold: rules/common.smk constrains the {run} wildcard to it.
RUN_ID_PATTERN = r"[A-Za-z0-9.\-]+"


@dataclass(frozen=True)
class Run:
    run_id: str  # folder name: <readable-name>-<hash>
    settings: dict  # every trajectory-defining setting, normalized: what names the run and what the rules pass

    @cached_property
    def typed(self) -> RunSettings:
        """The settings as code past the config reads them (settings.py), built on first use."""
        return RunSettings.from_dict(self.settings)

def normalize(settings: dict) -> dict:
    """Drop settings the run cannot use, and make numbers canonical, so equal trajectories hash equally."""
    out, dataset, model = {}, settings["dataset"], settings["model"]
    for key, value in sorted(settings.items()):
        if (key in _ONLY_FOR and not _ONLY_FOR[key](settings)) or not registry.uses(dataset, model, key):
            continue
        if key in _NUMBER_KEYS and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # `lr: 1` and `lr: 1.0` are the same run
        out[key] = value
    return out


def run_hash(settings: dict) -> str:
    trajectory = trajectory_settings(normalize(settings))
    blob = json.dumps(trajectory, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def readable_name(settings: dict) -> str:
    widths = registry.model_row(settings["model"]).widths
    model = settings["model"].replace(":", "-") + (f"x{_fmt(settings['width_multiplier'])}" if widths else "")
    # The lr in force: under lr_scaling sqrt_batch, not the configured one (the hash tells runs apart).
    lolr = settings["schedule"] == "lolr"
    lr = f"lolr{_fmt(settings['lolr_scale'])}" if lolr else f"lr{_fmt(lr_in_force(RunSettings.from_dict(settings)))}"
    parts = [settings["dataset"], model, settings["optimizer"], lr]
    if settings["dataset"] == "plugin":  # the class names what is trained
        parts[:2] = [settings["task_class"].lower()]
    if settings["dataset"] != "none":
        parts.append(f"bs{settings['batch_size']}")
    parts += [f"e{settings['epochs']}", f"s{settings['seed']}"]
    if settings.get("world_size", 1) > 1:
        parts.append(f"ws{settings['world_size']}")
    return "-".join(parts).replace("_", "")


# (key, value) pairs of run settings already found valid: a run's schema checks each key on its own
# (no required keys, no conditions), so a 1,000-run grid validates each distinct value once.
_VALID_SETTINGS: set[tuple[str, str]] = set()


def check_run(settings: dict, where: str) -> None:
    for key, value in settings.items():
        token = (key, json.dumps(value, sort_keys=True, default=repr))
        if token not in _VALID_SETTINGS:
            validate({key: value}, "run", where)
            _VALID_SETTINGS.add(token)
    problem = registry.incompatibility(settings["dataset"], settings["model"], settings["width_multiplier"])
    if problem is not None:
        key, message = problem
        raise ConfigError(f"config key {where}.{key} = {settings[key]!r}: {message}")
    check_world_size(settings, where)
    dataset = settings["dataset"]
    if registry.needs_data_dir(dataset) and not settings.get("data_dir"):
        raise ConfigError(f"config key {where}.data_dir = None: dataset {dataset!r} is read from a folder "
                          f"({registry.DATASETS[dataset].files}); set data_dir to where it lives")


def check_world_size(settings: dict, where: str) -> None:
    """world_size splits every minibatch into equal slices, one per rank."""
    ranks = settings["world_size"]
    if ranks == 1:
        return
    if not registry.uses(settings["dataset"], settings["model"], "batch_size"):
        raise ConfigError(f"config key {where}.world_size = {ranks}: model {settings['model']!r} has no minibatch "
                          f"to split over ranks (dataset {settings['dataset']!r}); use world_size: 1")
    if settings["batch_size"] % ranks:
        raise ConfigError(f"config key {where}.world_size = {ranks} does not divide batch_size = "
                          f"{settings['batch_size']}: every rank takes an equal slice of each minibatch")
    if settings.get("forks"):
        raise ConfigError(f"config key {where}.forks: a run with world_size = {ranks} cannot fork yet (forks train "
                          f"in one process); use world_size: 1 for runs with forks")


def identify(settings: dict) -> Run:
    """The run of normalized settings: its id is its readable name and the hash of its trajectory."""
    return Run(f"{readable_name(settings)}-{run_hash(settings)}", settings)


def trajectory_settings(settings: dict) -> dict:
    """A run's settings without RUNTIME_KEYS and MEASUREMENT_KEYS: what names it, and what the rules
    pass their training jobs."""
    return {k: v for k, v in settings.items() if k not in RUNTIME_KEYS and k not in MEASUREMENT_KEYS}


def label_for(settings: dict, compare: str | None, override: dict) -> str:
    if compare:
        value = _fmt(settings.get(compare, "n/a"))
        if compare == "schedule" and value == "lolr" and settings.get("lolr_target", "own") != "own":
            value = f"lolr/{settings['lolr_target']}"  # derived against a fork's endpoint: another run
        return f"{compare}={value}"
    if override:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in override.items())
    return readable_name(settings)
