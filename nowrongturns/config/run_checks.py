"""What is checked before any job, once per distinct input, in a subprocess (subprocess_check.py): a plug-in
task's code and task_args, and init_from weights against the run's model."""
from __future__ import annotations

from nowrongturns.config.plugin_source import TaskSource
from nowrongturns.config.runs import trajectory_settings
from nowrongturns.config.subprocess_check import check_once


def check_plugin(source: TaskSource, args: dict, full_batch: bool, cache_dir: str, where: str) -> None:
    """A ConfigError naming the key (task or task_args) and the file when the plug-in cannot be run."""
    request = {"task": source.spec, "task_args": args, "full_batch": full_batch}
    identity = [source.digest, source.class_name, args, full_batch]
    check_once("nowrongturns.tasks.plugin", request, identity, cache_dir, where,
               {"task": source.spec, "task_args": args})


def check_init(settings: dict, cache_dir: str, where: str) -> None:
    """A ConfigError naming init_from and the first tensor at fault when the weights do not fit the model."""
    identity = trajectory_settings(settings)  # the model's settings, the file's digest and the prefix map
    check_once("nowrongturns.train.pretrained", settings, identity, cache_dir, where,
               {"init_from": settings["init_from"]})
