"""Read config.yaml: validate it, expand studies into runs, and name each run by content.

Nothing here imports torch: the Snakefile calls it on every invocation, and a
no-op rerun must stay fast.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources

import jsonschema
import yaml

from . import figure_kinds, paths, registry
from .describe import SGD_FAMILY, lr_in_force
from .describe import fmt as _fmt
from .settings import RunSettings

# Where the data lives and how it is fetched do not change the trajectory: not in the run's name,
# nor in the rules' params (their jobs read them from the config: runtime_settings). What the data
# holds is in the name, as its fingerprint.
RUNTIME_KEYS = ("data_dir", "data_path", "num_workers", "eval_batch_size", "lolr_path")
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
    # Off by default: dropped when off, so adding them left every earlier run's hash as it was.
    "lr_scaling": lambda r: r["lr_scaling"] != "none",
    "final_low_lr_epoch": lambda r: r["final_low_lr_epoch"],
    # A lolr schedule takes every epoch's lr from its source run (lolr_source, its id) instead of `lr`.
    "lr": lambda r: r["schedule"] != "lolr",
    "lolr_from": lambda r: False,  # resolved to lolr_source, which names the source by content
    "lolr_scale": lambda r: r["schedule"] == "lolr",
    "lolr_smoothing": lambda r: r["schedule"] == "lolr",
    "forks": lambda r: bool(r["forks"]),
    "world_size": lambda r: r["world_size"] != 1,  # one process: the names runs had before ranks existed
}
_NUMBER_KEYS = {"dropout", "lr", "lolr_scale", "momentum", "beta1", "beta2", "weight_decay", "grad_clip", "step_gamma", "init_scale",
                "width_multiplier"}


# What a run id may hold: rules/common.smk constrains the {run} wildcard to it.
RUN_ID_PATTERN = r"[A-Za-z0-9.\-]+"

# The image `docker build -t nowrongturns:0.1.0 .` makes, read from the local Docker daemon.
DEFAULT_CONTAINER = "docker-daemon:nowrongturns:0.1.0"


class ConfigError(ValueError):
    """A config problem, with the offending key and value in the message."""


@dataclass(frozen=True)
class Run:
    run_id: str  # folder name: <readable-name>-<hash>
    settings: dict  # every trajectory-defining setting, normalized: what names the run and what the rules pass

    @cached_property
    def typed(self) -> RunSettings:
        """The settings as code past this module reads them (settings.py), built on first use."""
        return RunSettings.from_dict(self.settings)


@dataclass
class Study:
    name: str
    runs: list[str]  # run ids, in grid order
    labels: dict[str, str]  # run id -> legend label naming the compared setting
    compare: str | None
    figures: list[str]


@dataclass
class Pipeline:
    results: str
    measure: dict
    figures: dict
    resources: dict
    container: str = DEFAULT_CONTAINER  # the image rules run in under --use-singularity
    runs: dict[str, Run] = field(default_factory=dict)
    tables: dict[str, set] = field(default_factory=dict)  # run id -> the OPTIONAL_TABLES it gets
    studies: dict[str, Study] = field(default_factory=dict)
    trunk: dict[str, str] = field(default_factory=dict)  # run id -> the longest run it is a prefix of
    budgets: dict[str, dict[int, str]] = field(default_factory=dict)  # trunk id -> {epochs: run id}

    def segments(self, run_id: str) -> list[tuple[int, int]]:
        """Epoch ranges [start, end) replayed by each measurement job (of a trunk run)."""
        return segment_bounds(self.runs[run_id].settings["epochs"], self.measure["checkpoint_every"])

    def link_prefixes(self) -> None:
        """Group runs that differ only in their epoch budget under a schedule that ignores the budget
        (constant or step): the shorter trajectories are prefixes of the longest one, which is
        trained and replayed once for all of them."""
        families: dict[str, dict[int, str]] = {}
        for run_id, run in self.runs.items():
            settings = run.settings
            shareable = (settings["schedule"] in ("constant", "step")
                         and not settings.get("final_low_lr_epoch", False))
            key = run_hash({k: v for k, v in settings.items() if k != "epochs"}) if shareable else run_id
            families.setdefault(key, {})[settings["epochs"]] = run_id
        for members in families.values():
            trunk = members[max(members)]
            self.budgets[trunk] = dict(sorted(members.items()))
            for run_id in members.values():
                self.trunk[run_id] = trunk

    def segment_runtime(self, run_id: str, segment: int) -> int:
        """Minutes a replay segment asks for: its share of the reference pass, plus 20% for the metrics."""
        start, end = self.segments(run_id)[segment]
        share = (end - start) / self.runs[run_id].settings["epochs"]
        return max(5, math.ceil(1.2 * share * self.resources["runtime"]))


def segment_bounds(epochs: int, every: int) -> list[tuple[int, int]]:
    starts = list(range(0, epochs, every))
    return [(s, min(s + every, epochs)) for s in starts]


@cache
def schema() -> dict:
    """The config schema, with the lists it shares with the code filled in from the code: data sets and
    models (registry), figure kinds and the default figures (figure_kinds), the keys an override may set
    (the run's settings)."""
    text = resources.files("nowrongturns").joinpath("schemas/config.schema.yaml").read_text()
    full = yaml.safe_load(text)
    defs = full["$defs"]
    run = defs["run"]["properties"]
    run["dataset"]["enum"] = list(registry.DATASETS)
    run["model"]["enum"] = list(registry.MODELS)
    figures = defs["study"]["properties"]["figures"]
    figures["items"]["enum"] = list(figure_kinds.KINDS)
    figures["default"] = list(figure_kinds.DEFAULT_FIGURES)
    # A list value in an override is a grid axis, so settings whose value is itself a list (forks) are
    # set in a study's base instead.
    defs["override"]["propertyNames"] = {"enum": [k for k, v in run.items() if v.get("type") != "array"]}
    return full


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


@cache
def _validator(section: str | None):
    """The schema's validator, or that of one of its $defs (a 1,000-run study validates 1,000 runs)."""
    full = schema()
    part = full if section is None else {"$defs": full["$defs"], **full["$defs"][section]}
    return jsonschema.Draft202012Validator(part)


def _validate(instance, section: str | None, where: str) -> None:
    validator = _validator(section)
    if validator.is_valid(instance):
        return
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    key = ".".join(x for x in [where, _where(error.absolute_path)] if x and x != "<top level>")
    if error.validator == "additionalProperties":
        message = f"unknown key in {key or 'config'}: {error.message}"
    elif "propertyNames" in error.schema_path:
        message = f"unknown key {error.instance!r} in {key}: {error.message}"
    else:
        message = f"config key {key or '<top level>'} = {error.instance!r}: {error.message}"
    raise ConfigError(message)


def run_defaults() -> dict:
    props = schema()["$defs"]["run"]["properties"]
    return {k: v["default"] for k, v in props.items()}


def _section_defaults(name: str, given: dict | None) -> dict:
    props = schema()["$defs"][name]["properties"]
    out = {k: copy.deepcopy(v["default"]) for k, v in props.items()}
    out.update(coerce_types(given or {}, name, name))
    return out


@cache
def _integer_keys(section: str) -> frozenset:
    props = schema()["$defs"][section]["properties"]
    return frozenset(k for k, v in props.items() if "integer" in (v.get("type") or []) or v.get("type") == "integer")


def coerce_types(settings: dict, section: str, where: str) -> dict:
    """Values as their schema type, before anything hashes, names or seeds with them.

    JSON Schema counts 1.0 as an integer, but `seed: 1.0` must not be another trajectory than
    `seed: 1` (seeding hashes the value's repr) nor crash `range()`: an integral float given for
    an integer key becomes that integer (a fractional one is refused by the schema). NaN and
    infinities pass the schema's bounds (every comparison with NaN is false): refused here.
    """
    integers = _integer_keys(section)
    out = {}
    for key, value in settings.items():
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ConfigError(f"config key {where}.{key} = {value!r}: not a finite number")
            if key in integers and value.is_integer():
                value = int(value)
        out[key] = value
    return out


def _expand(overrides) -> list[dict]:
    """A mapping's list values expand as a grid; a list of mappings joins their grids."""
    if overrides is None:
        return [{}]
    blocks = overrides if isinstance(overrides, list) else [overrides]
    out = []
    for block in blocks:
        keys = list(block)
        values = [v if isinstance(v, list) else [v] for v in block.values()]
        out.extend(dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values))
    return out


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
    widths = registry.MODELS[settings["model"]].widths
    model = settings["model"] + (f"x{_fmt(settings['width_multiplier'])}" if widths else "")
    # The lr in force: under lr_scaling sqrt_batch, not the configured one (the hash tells runs apart).
    lolr = settings["schedule"] == "lolr"
    lr = f"lolr{_fmt(settings['lolr_scale'])}" if lolr else f"lr{_fmt(lr_in_force(RunSettings.from_dict(settings)))}"
    parts = [settings["dataset"], model, settings["optimizer"], lr]
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
            _validate({key: value}, "run", where)
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


def load(config: dict, read_data: bool = True) -> Pipeline:
    """Validate a config mapping and expand it into runs and studies.

    read_data: fingerprint each data folder (its content joins the run's identity) and check that it
    holds what its loader reads. Without it (inspecting a preset whose data is elsewhere) runs
    read from a folder are named as data_fingerprint 'unread', names no job can use."""
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a mapping, got {type(config).__name__}")
    _validate(config, None, "")
    pipe = _sections(config)
    _name_runs(pipe, _grid_points(config, pipe, read_data))
    for study in pipe.studies.values():
        check_figures(pipe, study)
    pipe.link_prefixes()
    return pipe


def _sections(config: dict) -> Pipeline:
    """The pipeline without runs: the results folder and the measure, figures and resources sections."""
    results = config.get("results", "results")
    if "{" in results or "}" in results:
        raise ConfigError(f"config key results = {results!r}: braces are not allowed in the results folder "
                          f"(Snakemake would read them as wildcards)")
    return Pipeline(
        results=results,
        measure=_section_defaults("measure", config.get("measure")),
        figures=_section_defaults("figures", config.get("figures")),
        resources=_section_defaults("resources", config.get("resources")),
        container=config.get("container", DEFAULT_CONTAINER),
    )


def _grid_points(config: dict, pipe: Pipeline, read_data: bool) -> list[tuple]:
    """Every grid point of every study as (study, where, settings, legend label), checked; adds the studies to
    pipe. The runs are named afterwards (_name_runs): a lolr schedule names its source by label."""
    base_defaults = {**run_defaults(), **(config.get("defaults") or {})}
    data = _DataFolders(f"{pipe.results}/.cache/data")
    points = []
    for name, spec in config["studies"].items():
        compare = spec.get("compare")
        pipe.studies[name] = Study(name, [], {}, compare, list(spec.get("figures", figure_kinds.DEFAULT_FIGURES)))
        for i, override in enumerate(_expand(spec.get("overrides"))):
            where = f"studies.{name}" + (f" (grid point {i}: {override})" if override else ".base")
            settings = coerce_types({**base_defaults, **spec["base"], **override}, "run", where)
            check_run(settings, where)
            if compare is not None and compare not in settings:
                raise ConfigError(f"config key studies.{name}.compare = {compare!r}: not a run setting")
            inexact = settings["gpu_kernels"] == "fast" and settings["device"] != "cpu"
            if inexact and not pipe.measure["drift_tolerance"]:
                raise ConfigError(f"config key studies.{name}: gpu_kernels = 'fast' cannot replay the reference "
                                  f"exactly, but measure.drift_tolerance = 0; set it above 0 (e.g. 1e-3) or use "
                                  f"gpu_kernels: deterministic")
            if registry.needs_data_dir(settings["dataset"]):
                settings["data_fingerprint"] = data.of(settings, where) if read_data else "unread"
            settings["forks"] = check_forks(settings, where)
            points.append((name, where, settings, label_for(settings, compare, override)))
    return points


def _name_runs(pipe: Pipeline, points: list[tuple]) -> None:
    """Name each grid point's run by content and file it under its study; sources of lolr schedules are named
    first (their ids are part of their followers'). A run in several studies is one run."""
    by_label: dict[tuple, list] = {}
    for study_name, _, settings, label in points:
        by_label.setdefault((study_name, label), []).append(settings)
    for study_name, where, settings, label in points:
        if settings["schedule"] == "lolr":
            source = _lolr_source(by_label, settings, where)
            source_id = _identify(normalize(source)).run_id
            settings["lolr_source"] = source_id
            settings["lolr_path"] = paths.table(paths.run_dir(pipe.results, source_id), "lolr")
        run = _identify(normalize(settings))
        if not re.fullmatch(RUN_ID_PATTERN, run.run_id):  # a guarantee: the rules could not match it
            raise ConfigError(f"config key {where}: run id {run.run_id!r} does not match {RUN_ID_PATTERN}")
        if run.run_id in pipe.runs:  # a run in several studies: its forks are all those they declare
            merged = _union_forks(pipe.runs[run.run_id].settings.get("forks", []), run.settings.get("forks", []))
            run = Run(run.run_id, {**run.settings, **({"forks": merged} if merged else {})})
        pipe.runs[run.run_id] = run
        study = pipe.studies[study_name]
        if run.run_id not in study.runs:
            study.runs.append(run.run_id)
            study.labels[run.run_id] = label


def _identify(settings: dict) -> Run:
    """The run of normalized settings: its id is its readable name and the hash of its trajectory."""
    return Run(f"{readable_name(settings)}-{run_hash(settings)}", settings)


def check_forks(settings: dict, where: str) -> list[dict]:
    """A run's forks, sorted by (at_epoch, seed): each before the budget, with a seed of its own."""
    forks = [{"at_epoch": int(f["at_epoch"]), "seed": int(f["seed"])} for f in settings.get("forks") or []]
    for i, fork in enumerate(forks):
        key = f"config key {where}.forks[{i}]"
        if fork["at_epoch"] >= settings["epochs"]:
            raise ConfigError(f"{key}.at_epoch = {fork['at_epoch']}: at or past the run's budget of "
                              f"{settings['epochs']} epochs (a fork starts from a checkpoint before w*)")
        if fork["seed"] == settings["seed"]:
            raise ConfigError(f"{key}.seed = {fork['seed']}: the run's own seed; a fork needs another one "
                              f"(with the same seed it retraces the run)")
        if settings["model"] == "sinusoidal_mixture":
            raise ConfigError(f"{key}: sinusoidal_mixture is deterministic (no data, no noise), so a fork "
                              f"would retrace the run whatever its seed")
    if len({(f["at_epoch"], f["seed"]) for f in forks}) != len(forks):
        raise ConfigError(f"config key {where}.forks: a fork is listed twice ({forks})")
    return sorted(forks, key=lambda f: (f["at_epoch"], f["seed"]))


def _union_forks(a: list[dict], b: list[dict]) -> list[dict]:
    unique = {(f["at_epoch"], f["seed"]) for f in [*a, *b]}
    return [{"at_epoch": at, "seed": seed} for at, seed in sorted(unique)]


def fork_id(fork: dict) -> str:
    """A fork's folder under its run: at<epoch>-seed<seed>."""
    return f"at{fork['at_epoch']}-seed{fork['seed']}"


def _lolr_source(by_label: dict, settings: dict, where: str) -> dict:
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


def check_figures(pipe: Pipeline, study: Study) -> None:
    """The figures a study draws can be drawn from its runs; records the optional tables they need."""
    for run_id in study.runs:
        settings = pipe.runs[run_id].settings
        tables = pipe.tables.setdefault(run_id, set())
        for kind in study.figures:
            needs = {t for t in figure_kinds.tables(kind) if t in figure_kinds.OPTIONAL_TABLES}
            if needs & {"full_batch", "path"} and not registry.MODELS[settings["model"]].full_batch:
                raise ConfigError(f"config key studies.{study.name}.figures: {kind} needs a full-batch loss, "
                                  f"which run {run_id} ({settings['model']}) does not have")
            if needs & {"full_batch", "path"} and settings.get("world_size", 1) > 1:
                raise ConfigError(f"config key studies.{study.name}.figures: {kind} is measured in one process, "
                                  f"which cannot retrace run {run_id} (world_size = {settings['world_size']}); "
                                  f"draw it for runs with world_size: 1")
            if "forks" in needs and not settings.get("forks"):
                raise ConfigError(f"config key studies.{study.name}.figures: forks needs forks, which run "
                                  f"{run_id} does not declare (run setting forks: [{{at_epoch: E, seed: S}}])")
            tables |= needs
        if settings.get("forks"):
            tables.add("forks")


class _DataFolders:
    """Each data folder fingerprinted and checked once per load, whichever runs read it."""

    def __init__(self, cache_dir: str):
        self.cache_dir, self.seen = cache_dir, {}

    def of(self, settings: dict, where: str) -> str:
        from .data_layout import DataLayoutError, check_layout
        from .fingerprint import DataChanged, fingerprint

        folder, dataset = settings["data_dir"], settings["dataset"]
        key = (folder, dataset)
        if key not in self.seen:
            try:
                found = fingerprint(folder, self.cache_dir)
                check_layout(dataset, folder, found.files)
            except FileNotFoundError:
                raise ConfigError(f"config key {where}.data_dir = {folder!r}: no such folder "
                                  f"(relative paths start at {os.getcwd()})") from None
            except (DataLayoutError, DataChanged) as err:
                raise ConfigError(f"config key {where}.data_dir = {folder!r}: {err}") from None
            self.seen[key] = found.digest
        return self.seen[key]


def runtime_settings(config: dict, run_id: str) -> dict:
    """The settings of a run that do not change its trajectory (RUNTIME_KEYS), read from the config
    by its job: they are kept out of the rules' params, which would rerun every job when one changes."""
    pipe = load(config)
    if run_id not in pipe.runs:
        raise ConfigError(f"run {run_id} is not among the runs of the config any more (did the config or its data "
                          f"change after Snakemake planned this job?); rerun Snakemake")
    return {k: v for k, v in pipe.runs[run_id].settings.items() if k in RUNTIME_KEYS}


def trajectory_settings(settings: dict) -> dict:
    """A run's settings without RUNTIME_KEYS and MEASUREMENT_KEYS: what names it, and what the rules
    pass their training jobs."""
    return {k: v for k, v in settings.items() if k not in RUNTIME_KEYS and k not in MEASUREMENT_KEYS}


def label_for(settings: dict, compare: str | None, override: dict) -> str:
    if compare:
        return f"{compare}={_fmt(settings.get(compare, 'n/a'))}"
    if override:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in override.items())
    return readable_name(settings)


def read_config_file(path) -> dict:
    """A YAML (or JSON) config file; a syntax error names the file, line and column (Snakemake's does not)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as err:
        raise ConfigError(f"config file not found: {path}") from err
    except yaml.MarkedYAMLError as err:
        def at(mark):
            return f"line {mark.line + 1}, column {mark.column + 1}"

        mark = err.problem_mark or err.context_mark
        message = f"config file {path}, {at(mark) if mark else 'unknown position'}: not valid YAML: {err.problem}"
        if err.context and err.context_mark:
            message += f" ({err.context} at {at(err.context_mark)})"
        raise ConfigError(message) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path}: not valid YAML: {err}") from None


def load_file(path) -> Pipeline:
    return load(read_config_file(path))


def figure_hash(pipe: Pipeline, study: Study) -> str:
    """Names a figure folder by everything drawn in it, so a reverted edit finds its old figures."""
    blob = json.dumps(
        {"runs": study.runs, "labels": study.labels, "kinds": study.figures, "figures": pipe.figures},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def table_hash(study: Study) -> str:
    """Names a study's report table by its runs and labels (figure settings do not change it)."""
    blob = json.dumps({"runs": study.runs, "labels": study.labels}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def runs_hash(pipe: Pipeline) -> str:
    """Names the drift summary by the runs it lists."""
    return hashlib.sha256(json.dumps(sorted(pipe.runs)).encode()).hexdigest()[:10]


def overview_studies(pipe: Pipeline) -> list[Study]:
    """The studies drawn in the Figure-1 overview: those that draw γ."""
    return [s for s in pipe.studies.values() if "gamma" in s.figures]


def overview_hash(pipe: Pipeline) -> str:
    blob = json.dumps(
        {"studies": {s.name: [s.runs, s.labels] for s in overview_studies(pipe)}, "figures": pipe.figures},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:10]
