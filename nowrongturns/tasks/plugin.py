"""Plug-in tasks: a Task subclass from the user's own file or module (run setting `task`), loaded and checked.

verdict() is the check the config runs once per distinct plug-in (config/run_checks.py), in the subprocess
of config/subprocess_check.py: it imports the code, which may import torch or a model zoo, away from
Snakemake's start. Its verdict: {"ok": true} or {"ok": false, "key": "task" or "task_args", "error": ...}.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import traceback

from nowrongturns.config.plugin_source import TaskSource, locate
from nowrongturns.tasks import task_args
from nowrongturns.tasks.base import Task, has_full_batch


class PluginError(ValueError):
    """A plug-in that cannot be used; the message names the file and class."""


def load_task_class(spec: str, digest: str | None = None) -> type[Task]:
    """The Task subclass `spec` names. digest: the source's digest when the run was planned; a file edited
    since then is an error (its run id would be another one now)."""
    source = locate(spec)
    if digest is not None and source.digest != digest:
        raise PluginError(f"task {spec}: {source.path} changed after Snakemake planned this run "
                          f"(digest {source.digest}, planned {digest}); rerun Snakemake")
    module = _import(source)
    cls = getattr(module, source.class_name, None)
    if cls is None:
        found = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, Task) and v is not Task)
        raise PluginError(f"{source.path} has no class {source.class_name}"
                          + (f" (its Task classes: {', '.join(found)})" if found else " (it defines no Task class)"))
    if not (inspect.isclass(cls) and issubclass(cls, Task)):
        raise PluginError(f"{source.path}: {source.class_name} is not a Task: subclass nowrongturns.tasks.Task "
                          f"(docs/own-model-and-data.md)")
    return cls


def _import(source: TaskSource):
    if source.module is not None:
        return importlib.import_module(source.module)
    # Named by content: a file edited between two checks in one process is imported afresh.
    stem = re.sub(r"\W", "_", source.path.stem)
    name = f"nowrongturns_plugin_{stem}_{source.digest}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, source.path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: dataclasses look their module up there
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def verdict(request: dict) -> dict:
    """The verdict on a plug-in {"task", "task_args", "full_batch"}: its code loads, names a Task, takes these
    task_args, and has a full-batch objective when the run's figures need one."""
    spec, args, full_batch = request["task"], request["task_args"], request["full_batch"]
    try:
        cls = load_task_class(spec)
    except PluginError as err:
        return {"ok": False, "key": "task", "error": str(err)}
    except Exception:  # noqa: BLE001 (the user's code may raise anything while it is imported: show where)
        return {"ok": False, "key": "task", "error": "importing it failed:\n" + traceback.format_exc(limit=-3)}
    try:
        task_args.parse(cls.Args, args, cls.__name__)
    except task_args.TaskArgsError as err:
        return {"ok": False, "key": "task_args", "error": str(err)}
    if full_batch and not has_full_batch(cls):
        return {"ok": False, "key": "task", "error": f"{cls.__name__} defines no full_batch_terms(), which the "
                                                     f"study's figures full_batch and path need"}
    return {"ok": True}
