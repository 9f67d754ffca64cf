"""Plug-in tasks (run setting task): errors before any job, the run's identity, and the replay guard.
The example runs through Snakemake end to end in test_examples.py."""
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch

from nowrongturns.config import ConfigError, load
from nowrongturns.config.plugin_source import locate
from nowrongturns.tasks.task_args import TaskArgsError, parse
from nowrongturns.train.engine import Trainer
from nowrongturns.train.replay_guard import NotReplayable, check_replayable

from .conftest import ROOT
from .workflow import write

EXAMPLE = ROOT / "examples" / "plugin_task.py"
BROKEN = ROOT / "examples" / "broken_tasks.py"


def config(results, **base) -> dict:
    run = {"task": f"{EXAMPLE}:Spirals", "task_args": {"points": 60, "width": 8}, "batch_size": 25, "epochs": 2,
           **base}
    return {"results": str(results), "measure": {"checkpoint_every": 1},
            "studies": {"spirals": {"base": run, "figures": ["gamma", "stacked", "lolr", "full_batch"]}}}


def run_ids(cfg) -> list[str]:
    return list(load(cfg, read_data=False).runs)


# -- errors before any job ----------------------------------------------------------------------------------
NOT_A_TASK = "class NotATask:\n    pass\n"


@pytest.mark.parametrize("change, key, message", [
    ({"task": "examples/plugin_task.py"}, "task", "write path/to/file.py:ClassName or package.module:ClassName"),
    ({"task": "no/such/file.py:Spirals"}, "task", "no file no/such/file.py"),
    ({"task": "no_such_package.module:Spirals"}, "task", "no module no_such_package.module on the Python path"),
    ({"task": f"{EXAMPLE}:Spiral"}, "task", "has no class Spiral (its Task classes: Spirals)"),
    ({"task": "{tmp}/not_a_task.py:NotATask"}, "task", "NotATask is not a Task"),
    ({"task_args": {"points": 60, "widht": 8}}, "task_args", "task_args.widht: unknown to Spirals.Args, which takes"),
    ({"task_args": {"points": "many"}}, "task_args", "task_args.points = 'many': Spirals.Args wants int"),
    ({"dataset": "digits"}, "dataset", "brings its own data and model; remove dataset"),
])
def test_a_bad_plugin_is_refused_before_any_job_naming_the_key_and_file(tmp_path, change, key, message):
    (tmp_path / "not_a_task.py").write_text(NOT_A_TASK)
    change = {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v for k, v in change.items()}
    with pytest.raises(ConfigError) as err:
        load(config(tmp_path / "results", **change))
    assert f"config key studies.spirals.base.{key}" in str(err.value)
    assert message in str(err.value)
    assert not (tmp_path / "results" / "runs").exists()


def test_task_args_must_match_the_args_dataclass():
    @dataclass
    class Args:
        n: int
        rate: float = 0.1
        sizes: tuple[int, ...] = (1,)
        name: str | None = None

    assert parse(Args, {"n": 2, "rate": 1, "sizes": [3, 4]}, "T") == Args(2, 1.0, (3, 4))
    for given, message in [({}, "task_args.n: T.Args requires it"), ({"n": True}, "task_args.n = True"),
                           ({"n": 1, "sizes": [1, "x"]}, "task_args.sizes"), ({"n": 1, "name": 3}, "task_args.name")]:
        with pytest.raises(TaskArgsError, match=message.replace(".", r"\.")):
            parse(Args, given, "T")
    with pytest.raises(TaskArgsError, match="takes no task_args"):
        parse(None, {"x": 1}, "T")


def test_one_subprocess_judges_every_check_and_keeps_each_ok(tmp_path, monkeypatch):
    """Two plug-ins are judged in one subprocess; the one whose import kills it is named, the other's "ok" kept,
    and a later load without the culprit starts no subprocess."""
    (tmp_path / "crash.py").write_text("import os\nos._exit(3)\n")
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **kw: calls.append(a) or real_run(*a, **kw))
    cfg = config(tmp_path / "results")
    cfg["studies"]["spirals"]["overrides"] = {"task": [f"{EXAMPLE}:Spirals", f"{tmp_path / 'crash.py'}:Crash"]}
    with pytest.raises(ConfigError, match=r"studies.spirals \(grid point 1: .*\).task = .*crash.py:Crash': checking it "
                                          r"failed \(exit code 3\)"):
        load(cfg)
    verdicts = list((tmp_path / "results/.cache/checks").glob("*.json"))
    assert len(calls) == 1 and len(verdicts) == 1 and json.loads(verdicts[0].read_text())["ok"] is True
    cfg["studies"]["spirals"]["overrides"]["task"].pop()
    load(cfg)
    assert len(calls) == 1  # the kept verdict: no subprocess


def test_planning_a_plugin_study_imports_no_torch(tmp_path):
    write(tmp_path / "config.yaml", config(tmp_path / "results"))
    code = ("import sys; from nowrongturns.config import load_file; p = load_file('config.yaml'); "
            "assert 'torch' not in sys.modules; print(len(p.runs))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


# -- identity ----------------------------------------------------------------------------------------------
def test_the_class_and_content_name_the_run_not_the_path(tmp_path):
    base = run_ids(config(tmp_path))
    moved = tmp_path / "elsewhere.py"
    shutil.copy(EXAMPLE, moved)
    assert run_ids(config(tmp_path, task=f"{moved}:Spirals")) == base
    assert base[0].startswith("spirals-sgd-lr0.05-bs25-e2-s0-")
    moved.write_text(EXAMPLE.read_text() + "\n# an edit\n")
    assert run_ids(config(tmp_path, task=f"{moved}:Spirals")) != base
    assert run_ids(config(tmp_path, task_args={"points": 60, "width": 9})) != base
    # Keys the plug-in does not use leave it as it was.
    assert run_ids(config(tmp_path, width=7, augment=True)) == base


# -- the replay guard ----------------------------------------------------------------------------------------
def trainer(spec: str) -> Trainer:
    source = locate(spec)
    return Trainer({"task": spec, "task_class": source.class_name, "task_digest": source.digest, "dataset": "plugin",
                    "model": "plugin", "batch_size": 32, "epochs": 1, "device": "cpu"}, "guard-test")


GENERATOR = "Attributes that hold a random generator of their own, which no checkpoint holds: task.rng"
CHANGED = "Attributes that changed while computing those steps: "


@pytest.mark.parametrize("name, suspect", [("OwnGenerator", GENERATOR), ("Counter", CHANGED + "task.seen"),
                                           ("HiddenModuleState", CHANGED + "task.model.calls")])
def test_the_guard_names_each_broken_example(name, suspect):
    with pytest.raises(NotReplayable) as err:
        trainer(f"{BROKEN}:{name}").run_epoch()
    assert f"task {name} is not replayable" in str(err.value)
    assert "the gradient of step 0" in str(err.value)
    assert suspect in str(err.value)


def test_the_guard_passes_a_correct_task_and_leaves_its_state_as_it_was():
    t = trainer(f"{EXAMPLE}:Spirals")
    before = ({k: v.clone() for k, v in t.model.state_dict().items()}, torch.get_rng_state())
    check_replayable(t)
    assert all(torch.equal(before[0][k], v) for k, v in t.model.state_dict().items())
    assert torch.equal(before[1], torch.get_rng_state())
    t.run_epoch()  # the guard again, then the epoch
