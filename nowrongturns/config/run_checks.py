"""What is checked before any job, once per distinct input, in one subprocess (subprocess_check.py): a plug-in
task's code and task_args, a zoo model's name and model_args, and init_from weights against the run's model.
Each function adds its check to `checks`; the config's load runs them all at once."""
from __future__ import annotations

import importlib.util

from nowrongturns.config import registry
from nowrongturns.config.errors import ConfigError
from nowrongturns.config.plugin_source import TaskSource
from nowrongturns.config.runs import trajectory_settings
from nowrongturns.config.subprocess_check import Checks


def check_plugin(source: TaskSource, args: dict, full_batch: bool, checks: Checks, where: str) -> None:
    """A ConfigError naming the key (task or task_args) and the file when the plug-in cannot be run."""
    request = {"task": source.spec, "task_args": args, "full_batch": full_batch}
    identity = [source.digest, source.class_name, args, full_batch]
    checks.add("nowrongturns.tasks.plugin", request, identity, where, {"task": source.spec, "task_args": args})


def check_init(settings: dict, checks: Checks, where: str) -> None:
    """A ConfigError naming init_from and the first tensor at fault when the weights do not fit the model."""
    identity = trajectory_settings(settings)  # the model's settings, the file's digest and the prefix map
    checks.add("nowrongturns.train.pretrained", settings, identity, where, {"init_from": settings["init_from"]})


def check_zoo_model(settings: dict, checks: Checks, where: str, run_check: bool = True) -> None:
    """A ConfigError naming model (or model_args) when a zoo model's extra is not installed, the zoo has no
    model of that name, or it cannot be built with model_args. The extra is looked up without importing it;
    the rest is judged once per (model, model_args) when run_check."""
    zoo = registry.row_name(settings["model"])
    if zoo not in registry.ZOOS:
        return
    row = registry.ZOOS[zoo]
    if importlib.util.find_spec(row.module) is None:
        raise ConfigError(f"config key {where}.model = {settings['model']!r}: needs {row.module}, which is not "
                          f"installed; pip install 'nowrongturns[{row.extra}]' (or pip install -e '.[{row.extra}]' "
                          f"in a clone)")
    if run_check:
        request = {"model": settings["model"], "model_args": settings["model_args"]}
        identity = [dict(request), _version(row.module)]
        if settings.get("tokenizer_fingerprint"):  # a language model's vocabulary must hold the tokenizer's ids
            request["tokenizer"] = settings["tokenizer"]
            identity.append(settings["tokenizer_fingerprint"])  # its content, not its path
        checks.add(row.check, request, identity, where, request)


def _version(module: str) -> str:
    """The installed version: another version may name models otherwise, so its verdict is its own."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "unknown"
