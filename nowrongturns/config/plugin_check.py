"""The check of a plug-in task before any job: once per distinct (source digest, class, task_args), in a
subprocess, its verdict cached under the results folder.

Loading a plug-in runs the user's code, which imports torch and perhaps a model zoo: seconds that
Snakemake's start should not pay on every call, and imports its process should not hold
(tests/test_layers.py). A subprocess pays them once; its "ok" is kept in a file named by what it judged,
so later starts (and every job, which loads the config again) read the file. A failure is not kept: the
next start checks again, after the user's fix.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from nowrongturns.config.errors import ConfigError
from nowrongturns.config.plugin_source import TaskSource
from nowrongturns.storage.files import write_json


def check_plugin(source: TaskSource, args: dict, full_batch: bool, cache_dir: str, where: str) -> None:
    """Raise a ConfigError naming the key (task or task_args) and the file when the plug-in cannot be run."""
    request = {"task": source.spec, "task_args": args, "full_batch": full_batch}
    identity = json.dumps([source.digest, source.class_name, args, full_batch], sort_keys=True, default=repr)
    verdict_file = Path(cache_dir) / f"{hashlib.sha256(identity.encode()).hexdigest()[:20]}.json"
    if verdict_file.exists():
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
    proc = subprocess.run([sys.executable, "-m", "nowrongturns.tasks.plugin", json.dumps(request)],
                          check=False, capture_output=True, text=True, env=env)
    try:
        verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise ConfigError(f"config key {where}.task = {source.spec!r}: checking it failed (exit code "
                          f"{proc.returncode}):\n{proc.stderr[-3000:]}") from None
    if not verdict["ok"]:
        key = verdict["key"]
        value = source.spec if key == "task" else args
        raise ConfigError(f"config key {where}.{key} = {value!r}: {verdict['error']}")
    record = {"task": source.spec, "class": source.class_name, "digest": source.digest, "task_args": args,
              "full_batch": full_batch, "ok": True}
    write_json(record, verdict_file)
