"""A config expanded into the pipeline it describes: its studies, their runs, the prefixes shared across epoch budgets, and the segments each run is replayed in."""
from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field

from nowrongturns.config import figure_kinds, registry
from nowrongturns.config.data_folders import DataFolders
from nowrongturns.config.errors import ConfigError
from nowrongturns.config.fork_specs import check_forks, union_forks
from nowrongturns.config.hf_config import resolve_model_folder, tokenizer_fingerprint
from nowrongturns.config.lolr_source import LOLR_DERIVATION, lolr_source, lolr_table
from nowrongturns.config.plugin_source import FORMS, locate
from nowrongturns.config.pretrained_file import weights_digest
from nowrongturns.config.run_checks import check_init, check_plugin, check_zoo_model
from nowrongturns.config.runs import (
    RUN_ID_PATTERN,
    RUNTIME_KEYS,
    Run,
    check_run,
    identify,
    label_for,
    normalize,
    run_hash,
)
from nowrongturns.config.schema import coerce_types, run_defaults, section_defaults, validate
from nowrongturns.config.subprocess_check import Checks
from nowrongturns.config.yaml_file import read_config_file
from nowrongturns.datasets.catalog import mirror_problem

# The image `docker build -t nowrongturns:0.1.0 .` makes, read from the local Docker daemon.
DEFAULT_CONTAINER = "docker-daemon:nowrongturns:0.1.0"

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
    data: dict = field(default_factory=dict)  # the data section: root, mirrors, retries
    container: str = DEFAULT_CONTAINER  # the image rules run in under --use-singularity
    runs: dict[str, Run] = field(default_factory=dict)
    tables: dict[str, set] = field(default_factory=dict)  # run id -> the OPTIONAL_TABLES it gets
    studies: dict[str, Study] = field(default_factory=dict)
    trunk: dict[str, str] = field(default_factory=dict)  # run id -> the longest run it is a prefix of
    budgets: dict[str, dict[int, str]] = field(default_factory=dict)  # trunk id -> {epochs: run id}
    fetched: dict[str, str] = field(default_factory=dict)  # data set -> the folder data_dir: auto downloads to
    by_hand: dict[str, list[str]] = field(default_factory=dict)  # data set -> folders of its published files

    def segments(self, run_id: str) -> list[tuple[int, int]]:
        """Epoch ranges [start, end) replayed by each measurement job (of a trunk run)."""
        return segment_bounds(self.runs[run_id].settings["epochs"], self.measure["checkpoint_every"])

    def run_named(self, name: str) -> str | None:
        """The run id a user names: the id itself, or <study>/<label> as the study's legends show it."""
        if name in self.runs:
            return name
        study, _, label = name.partition("/")
        labels = self.studies[study].labels if study in self.studies else {}
        return next((run_id for run_id, lab in labels.items() if lab == label), None)

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


def load(config: dict, read_data: bool = True) -> Pipeline:
    """Validate a config mapping and expand it into runs and studies.

    read_data: fingerprint each data folder (its content joins the run's identity) and check that it
    holds what its loader reads; check each plug-in task, zoo model and init_from file against its run
    (config/run_checks.py).
    Without it (inspecting a preset whose data is elsewhere) runs read from a folder are named as
    data_fingerprint 'unread' (tokenizer_fingerprint and init_digest likewise), names no job can use; a
    data_dir: auto run keeps its name, the published checksums of its data."""
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a mapping, got {type(config).__name__}")
    validate(config, None, "")
    pipe = _sections(config)
    _name_runs(pipe, _grid_points(config, pipe, read_data))
    for study in pipe.studies.values():
        check_figures(pipe, study)
    pipe.link_prefixes()
    return pipe


def _sections(config: dict) -> Pipeline:
    """The pipeline without runs: the results folder and the measure, figures and resources sections."""
    results = config.get("results", "results")
    data = section_defaults("data", config.get("data"))
    for key, folder in (("results", results), ("data.root", data["root"])):
        if "{" in folder or "}" in folder:
            raise ConfigError(f"config key {key} = {folder!r}: braces are not allowed in a folder Snakemake "
                              f"writes to (it would read them as wildcards)")
    for dataset, urls in data["mirrors"].items():
        for i, url in enumerate(urls):
            problem = mirror_problem(dataset, url)
            if problem:
                raise ConfigError(f"config key data.mirrors.{dataset}[{i}] = {url!r}: {problem}")
    return Pipeline(
        results=results,
        measure=section_defaults("measure", config.get("measure")),
        figures=section_defaults("figures", config.get("figures")),
        resources=section_defaults("resources", config.get("resources")),
        data=data,
        container=config.get("container", DEFAULT_CONTAINER),
    )


def _grid_points(config: dict, pipe: Pipeline, read_data: bool) -> list[tuple]:
    """Every grid point of every study as (study, where, settings, legend label), checked; adds the studies to
    pipe. The runs are named afterwards (_name_runs): a lolr schedule names its source by label."""
    base_defaults = {**run_defaults(), **(config.get("defaults") or {})}
    data = DataFolders(pipe.results, pipe.data["root"])
    checks = Checks(f"{pipe.results}/.cache/checks")
    points = []
    for name, spec in config["studies"].items():
        compare = spec.get("compare")
        pipe.studies[name] = Study(name, [], {}, compare, list(spec.get("figures", figure_kinds.DEFAULT_FIGURES)))
        for i, override in enumerate(_expand(spec.get("overrides"))):
            where = f"studies.{name}" + (f" (grid point {i}: {override})" if override else ".base")
            settings = coerce_types({**base_defaults, **spec["base"], **override}, "run", where)
            as_plugin(settings, {**spec["base"], **override}, where)
            check_run(settings, where)
            resolve_model_folder(settings, where)
            if compare is not None and compare not in settings:
                raise ConfigError(f"config key studies.{name}.compare = {compare!r}: not a run setting")
            inexact = settings["gpu_kernels"] == "fast" and settings["device"] != "cpu"
            if inexact and not pipe.measure["drift_tolerance"]:
                raise ConfigError(f"config key studies.{name}: gpu_kernels = 'fast' cannot replay the reference "
                                  f"exactly, but measure.drift_tolerance = 0; set it above 0 (e.g. 1e-3) or use "
                                  f"gpu_kernels: deterministic")
            plugin = settings["dataset"] == "plugin"
            if registry.needs_data_dir(settings["dataset"]) or (plugin and settings["data_dir"]):
                settings["data_fingerprint"] = data.of(settings, where, read_data)
                if registry.DATASETS[settings["dataset"]].keeps_decoded:
                    settings["data_cache"] = f"{pipe.results}/.cache/data"
            if plugin:
                source = locate(settings["task"], where)
                settings["task_class"], settings["task_digest"] = source.class_name, source.digest
                if read_data:
                    full_batch = any(needs_full_batch(kind) for kind in pipe.studies[name].figures)
                    check_plugin(source, settings["task_args"], full_batch, checks, where)
            if registry.uses(settings["dataset"], settings["model"], "tokenizer") and settings["tokenizer"]:
                tokens = tokenizer_fingerprint(settings, f"{pipe.results}/.cache/data", where) if read_data else "unread"
                settings["tokenizer_fingerprint"] = tokens
            check_zoo_model(settings, checks, where, run_check=read_data)
            if settings["init_from"] is not None:
                if read_data or os.path.isfile(settings["init_from"]):
                    settings["init_digest"] = weights_digest(settings["init_from"], f"{pipe.results}/.cache/weights",
                                                             where)
                else:  # like a data folder: the file of a preset may lie elsewhere
                    settings["init_digest"] = "unread"
                if read_data:
                    check_init(settings, checks, where)
            settings["forks"] = check_forks(settings, where)
            points.append((name, where, settings, label_for(settings, compare, override)))
    checks.run()
    pipe.fetched, pipe.by_hand = data.fetched, {k: sorted(v) for k, v in data.by_hand.items()}
    return points


def as_plugin(settings: dict, given: dict, where: str) -> None:
    """A run with a plug-in task takes its data and model from it: its dataset and model become "plugin".
    given: the settings its study sets itself, where a dataset or model beside task is a contradiction."""
    if settings["task"] is None:
        if "plugin" in (settings["dataset"], settings["model"]):
            raise ConfigError(f"config key {where}: dataset and model 'plugin' belong to plug-in tasks; set "
                              f"task to one ({FORMS}) instead")
        if settings["task_args"]:
            raise ConfigError(f"config key {where}.task_args: only a plug-in task (run setting task) takes task_args")
        return
    for key in ("dataset", "model"):
        if given.get(key, "plugin") != "plugin":
            raise ConfigError(f"config key {where}.{key} = {given[key]!r}: the plug-in task "
                              f"{settings['task']!r} brings its own data and model; remove {key}")
    settings["dataset"] = settings["model"] = "plugin"


def needs_full_batch(kind: str) -> bool:
    return bool({"full_batch", "path"} & set(figure_kinds.tables(kind)))


def _name_runs(pipe: Pipeline, points: list[tuple]) -> None:
    """Name each grid point's run by content and file it under its study; sources of lolr schedules are named
    first (their ids are part of their followers'). A run in several studies is one run."""
    by_label: dict[tuple, list] = {}
    for study_name, _, settings, label in points:
        by_label.setdefault((study_name, label), []).append(settings)
    for study_name, where, settings, label in points:
        if settings["schedule"] == "lolr":
            source = lolr_source(by_label, settings, where)
            source_id = identify(normalize(source)).run_id
            settings["lolr_source"] = source_id
            settings["lolr_derivation"] = LOLR_DERIVATION
            settings["lolr_path"] = lolr_table(pipe.results, source_id, settings["lolr_target"])
        run = identify(normalize(settings))
        if not re.fullmatch(RUN_ID_PATTERN, run.run_id):  # a guarantee: the rules could not match it
            raise ConfigError(f"config key {where}: run id {run.run_id!r} does not match {RUN_ID_PATTERN}")
        if run.run_id in pipe.runs:  # a run in several studies: its forks are all those they declare
            merged = union_forks(pipe.runs[run.run_id].settings.get("forks", []), run.settings.get("forks", []))
            run = Run(run.run_id, {**run.settings, **({"forks": merged} if merged else {})})
        pipe.runs[run.run_id] = run
        study = pipe.studies[study_name]
        if run.run_id not in study.runs:
            study.runs.append(run.run_id)
            study.labels[run.run_id] = label


def check_figures(pipe: Pipeline, study: Study) -> None:
    """The figures a study draws can be drawn from its runs; records the optional tables they need."""
    for run_id in study.runs:
        settings = pipe.runs[run_id].settings
        tables = pipe.tables.setdefault(run_id, set())
        for kind in study.figures:
            needs = {t for t in figure_kinds.tables(kind) if t in figure_kinds.OPTIONAL_TABLES}
            if needs & {"full_batch", "path"} and not registry.model_row(settings["model"]).full_batch:
                raise ConfigError(f"config key studies.{study.name}.figures: {kind} needs a full-batch loss, "
                                  f"which run {run_id} ({settings['model']}) does not have")
            if needs & {"full_batch", "path", "sharpness"} and settings.get("world_size", 1) > 1:
                raise ConfigError(f"config key studies.{study.name}.figures: {kind} is measured in one process, "
                                  f"which cannot retrace run {run_id} (world_size = {settings['world_size']}); "
                                  f"draw it for runs with world_size: 1")
            if "blocks" in needs and not pipe.measure["per_block"]:
                raise ConfigError(f"config key studies.{study.name}.figures: blocks needs the per-block sums, "
                                  f"which measure.per_block = false does not record; set measure.per_block: true")
            if "forks" in needs and not settings.get("forks"):
                raise ConfigError(f"config key studies.{study.name}.figures: forks needs forks, which run "
                                  f"{run_id} does not declare (run setting forks: [{{at_epoch: E, seed: S}}])")
            tables |= needs
        if settings.get("forks"):
            tables.add("forks")
        if pipe.measure["per_block"]:
            if settings.get("world_size", 1) > 1:
                raise ConfigError(f"config key measure.per_block = true: run {run_id} has world_size = "
                                  f"{settings['world_size']}, whose ranks each measure a slice of w; per-block "
                                  f"sums are measured in one process (world_size: 1)")
            tables.add("blocks")


def runtime_settings(config: dict, run_id: str) -> dict:
    """The settings of a run that do not change its trajectory (RUNTIME_KEYS), read from the config
    by its job: they are kept out of the rules' params, which would rerun every job when one changes."""
    pipe = load(config)
    if run_id not in pipe.runs:
        raise ConfigError(f"run {run_id} is not among the runs of the config any more (did the config or its data "
                          f"change after Snakemake planned this job?); rerun Snakemake")
    return {k: v for k, v in pipe.runs[run_id].settings.items() if k in RUNTIME_KEYS}


def load_file(path) -> Pipeline:
    return load(read_config_file(path))
