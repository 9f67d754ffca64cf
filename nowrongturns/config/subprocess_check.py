"""Checks that need torch (or the user's code) before any job: run once per distinct input, in a subprocess,
their "ok" kept in a file under the results folder.

Such a check (a plug-in task's class and task_args, init_from weights against the model) imports torch and
perhaps a model zoo: seconds that Snakemake's start should not pay on every call, and imports its process
should not hold (tests/test_layers.py). A subprocess pays them once; its "ok" is kept in a file named by
what it judged, so later starts (and every job, which loads the config again) read the file. A failure
is not kept: the next start checks again, after the user's fix.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from nowrongturns.config.errors import ConfigError
from nowrongturns.storage.files import write_json


def check_once(module: str, request: dict, identity, cache_dir: str, where: str, shown: dict) -> None:
    """Run `python -m module REQUEST_JSON` unless a verdict for `identity` is kept; a verdict
    {"ok": false, "key": K, "error": E} becomes a ConfigError naming `where`.K and its value shown[K]."""
    blob = json.dumps([module, identity], sort_keys=True, default=repr)
    verdict_file = Path(cache_dir) / f"{hashlib.sha256(blob.encode()).hexdigest()[:20]}.json"
    if verdict_file.exists():
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
    proc = subprocess.run([sys.executable, "-m", module, json.dumps(request, default=repr)],
                          check=False, capture_output=True, text=True, env=env)
    try:
        verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        first = next(iter(shown))
        raise ConfigError(f"config key {where}.{first} = {shown[first]!r}: checking it failed (exit code "
                          f"{proc.returncode}):\n{proc.stderr[-3000:]}") from None
    if not verdict["ok"]:
        key = verdict["key"]
        raise ConfigError(f"config key {where}.{key} = {shown[key]!r}: {verdict['error']}")
    write_json({"check": module, "judged": json.loads(blob)[1], "ok": True}, verdict_file)
