"""Where a plug-in task's code lives (run setting `task`) and what names it: its class and its source's digest.

Torch-free and import-free: the source is found and read, never executed, so that planning stays fast and
free of torch (tasks/plugin.py imports it, in a job or in the check's subprocess). The run's identity holds
the class name and the digest of the file that defines it, not the path: the same file under another path
is the same run, an edited file a new one.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path

from nowrongturns.config.errors import ConfigError

SPEC = re.compile(r"(?P<source>[^:]+):(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
FORMS = "path/to/file.py:ClassName or package.module:ClassName"


@dataclass(frozen=True)
class TaskSource:
    spec: str  # as the config gives it
    path: Path  # the file that defines the class
    module: str | None  # its dotted name; None for a file given by path
    class_name: str
    digest: str  # sha256 of the file's bytes, 16 hex digits


def locate(spec: str, where: str = "") -> TaskSource:
    """The source a `task` value names; a ConfigError naming the key (`where`.task, in the config) and the file
    when there is none."""
    key = f"config key {where}.task" if where else "run setting task"
    match = SPEC.fullmatch(spec)
    if match is None:
        raise ConfigError(f"{key} = {spec!r}: write {FORMS}")
    source, name = match["source"], match["name"]
    if source.endswith(".py"):
        path, module = Path(source), None
        if not path.is_file():
            raise ConfigError(f"{key} = {spec!r}: no file {source} "
                              f"(relative paths start at {os.getcwd()})")
    else:
        path, module = module_file(source), source
        if path is None:
            raise ConfigError(f"{key} = {spec!r}: no module {source} on the Python path")
    return TaskSource(spec, path, module, name, hashlib.sha256(path.read_bytes()).hexdigest()[:16])


def module_file(name: str) -> Path | None:
    """The file of a dotted module, found without importing it or its packages (their imports may pull in torch)."""
    parts = name.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level name: nothing is imported to find it
    except (ImportError, ValueError):
        return None
    for i in range(1, len(parts)):
        if spec is None or spec.submodule_search_locations is None:
            return None
        spec = PathFinder.find_spec(".".join(parts[:i + 1]), list(spec.submodule_search_locations))
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)
