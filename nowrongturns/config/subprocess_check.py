"""Checks that need torch (or the user's code) before any job: each distinct one judged once, all that one
start needs in a single subprocess, each "ok" kept in a file under the results folder.

Such a check (a plug-in task's class and task_args, a zoo model's name and model_args, init_from weights
against the run's model) imports torch and perhaps a model zoo: seconds that Snakemake's start should not
pay on every call, and imports its process should not hold (tests/test_layers.py). One subprocess pays them
once for every check of the config (a study of ten timm models imports timm once, not ten times). Each "ok"
is kept in a file named by what it judged, so later starts (and every job, which loads the config again)
read the file. A failure is not kept: the next start checks again, after the user's fix.

A check module defines verdict(request) -> {"ok": True} or {"ok": False, "key": K, "error": E}.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from nowrongturns.config.errors import ConfigError
from nowrongturns.storage.files import write_json

# Verdict lines carry this prefix: the user's code may print to stdout while it is imported.
MARK = "nowrongturns-verdict "


@dataclass
class Pending:
    module: str
    request: dict
    judged: object  # what the verdict is about, as kept in its file
    verdict_file: Path
    where: str  # the config key the error names, e.g. studies.vit.base
    shown: dict  # key -> the value the error shows for it


class Checks:
    """The checks one config load needs. add() each; run() judges those without a kept verdict."""

    def __init__(self, cache_dir: str):
        self.cache_dir = Path(cache_dir)
        self.pending: dict[Path, Pending] = {}

    def add(self, module: str, request: dict, identity, where: str, shown: dict) -> None:
        blob = json.dumps([module, identity], sort_keys=True, default=repr)
        verdict_file = self.cache_dir / f"{hashlib.sha256(blob.encode()).hexdigest()[:20]}.json"
        if not verdict_file.exists() and verdict_file not in self.pending:
            self.pending[verdict_file] = Pending(module, request, json.loads(blob)[1], verdict_file, where, shown)

    def run(self) -> None:
        """Judge the pending checks in one subprocess and keep each "ok"; the first failure, in the order they
        were added, becomes a ConfigError naming where.KEY and its value."""
        todo, self.pending = list(self.pending.values()), {}
        if not todo:
            return
        requests = json.dumps([[p.module, p.request] for p in todo], default=repr)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
        proc = subprocess.run([sys.executable, "-m", __name__], input=requests, check=False, capture_output=True,
                              text=True, env=env)
        verdicts = [json.loads(line[len(MARK):]) for line in proc.stdout.splitlines() if line.startswith(MARK)]
        judged = list(zip(todo, verdicts, strict=False))  # fewer verdicts than checks: the process died
        for pending, verdict in judged:  # keep every "ok" before raising for a failure
            if verdict["ok"]:
                write_json({"check": pending.module, "judged": pending.judged, "ok": True}, pending.verdict_file)
        for pending, verdict in judged:
            if not verdict["ok"]:
                key = verdict["key"]
                raise ConfigError(f"config key {pending.where}.{key} = {pending.shown[key]!r}: {verdict['error']}")
        if len(verdicts) < len(todo):  # it died while judging todo[len(verdicts)]
            pending = todo[len(verdicts)]
            first = next(iter(pending.shown))
            raise ConfigError(f"config key {pending.where}.{first} = {pending.shown[first]!r}: checking it failed "
                              f"(exit code {proc.returncode}):\n{proc.stderr[-3000:]}")


def main() -> None:
    """Judge [[module, request], ...] from stdin, one verdict line each, in order."""
    for module, request in json.loads(sys.stdin.read()):
        verdict = importlib.import_module(module).verdict(request)
        print(MARK + json.dumps(verdict), flush=True)


if __name__ == "__main__":
    main()
