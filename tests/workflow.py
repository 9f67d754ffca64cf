"""Running the workflow from tests: Snakemake in a fresh process, the reduced default study,
comparing two result folders, and the gate for tests that need root-installed tools."""
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch
import yaml

from nowrongturns.config import figure_kinds

from .conftest import ROOT

SNAKEFILE = ROOT / "Snakefile"


def snakemake(workdir, *args, check=True, cores=True, env=None, timeout=1200):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), *(["--cores", "2"] if cores else []), *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def without_torch(folder) -> dict:
    """Environment variables under which `import torch` fails. Planning (the Snakefile, rules/common.smk and
    what they import) must not need torch, so that a dry run or a rerun with nothing to do stays fast."""
    shadow = folder / "torch"
    shadow.mkdir(parents=True, exist_ok=True)
    (shadow / "__init__.py").write_text('raise ImportError("planning imported torch")\n')
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}


def job_stats(stdout: str) -> dict:
    """The "Job stats:" table of a dry run as {rule: count}, the figure_<kind> rules counted together as
    "figure" (the first table; `total` dropped)."""
    assert "Job stats:" in stdout, f"no job table in the dry run's output:\n{stdout[-3000:]}"
    table = stdout.split("Job stats:")[1].split("\n\n")[0]
    jobs = {}
    for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE):
        rule = "figure" if rule.startswith("figure_") else rule
        jobs[rule] = jobs.get(rule, 0) + int(n)
    jobs.pop("total", None)
    return jobs


TEST_STUDY = ROOT / ".test" / "config.yaml"
# The studies the cluster and container runs take from the reduced one: between them every kind of job
# (reference, replay segments, full batch, fork, straight path, tables and figures), in 4 runs.
SUBSET = ("seeds", "cnn")


def reduced_default_config(studies=None) -> dict:
    """The reduced default study of .test/config.yaml; only the given studies, if named."""
    cfg = yaml.safe_load(TEST_STUDY.read_text())
    if studies is not None:
        cfg["studies"] = {name: cfg["studies"][name] for name in studies}
    return cfg


def write(path, cfg):
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


RUN_TABLES = ("steps.parquet", "epochs.parquet", "lolr.parquet", "reference/history.parquet")
OPTIONAL_TABLES = tuple(f"{t}.parquet" for t in figure_kinds.OPTIONAL_TABLES)
# The rules whose jobs ask for the config's GPUs (on a cluster without any: --set-resources RULE:gpu=0).
GPU_RULES = ("reference", "measure_segment", "full_batch_segment", "sharpness_segment", "fork", "straight_path")


def assert_same_results(work_a, work_b) -> int:
    """Every run in work_b has the tables (exactly) and w0/w* (bitwise) of the same run in work_a, and every
    study's figures of work_b are in work_a (work_b may hold a subset of work_a's studies; the overview,
    which shows every study, is compared only when both hold the same runs). Returns the runs compared."""
    runs_a = sorted(p.name for p in (work_a / "results/runs").iterdir())
    runs_b = sorted(p.name for p in (work_b / "results/runs").iterdir())
    assert runs_b and set(runs_b) <= set(runs_a), sorted(set(runs_b) - set(runs_a))
    for run in runs_b:
        a, b = work_a / "results/runs" / run, work_b / "results/runs" / run
        # A run's optional tables are those its studies draw: fewer when work_b holds fewer studies.
        optional = [t for t in OPTIONAL_TABLES if (b / t).exists() or (runs_a == runs_b and (a / t).exists())]
        for table in (*RUN_TABLES, *optional):
            ta, tb = pd.read_parquet(a / table), pd.read_parquet(b / table)
            pd.testing.assert_frame_equal(ta, tb, check_exact=True, obj=f"{run}/{table}")
        for weights in ("w0.pt", "w_star.pt"):
            wa = torch.load(a / "reference" / weights, weights_only=True)
            wb = torch.load(b / "reference" / weights, weights_only=True)
            assert wa.keys() == wb.keys() and torch.equal(wa.pop("w"), wb.pop("w")) and wa == wb, f"{run}/{weights}"

    def figures(work):
        found = {p.relative_to(work) for p in (work / "results/figures").rglob("*.png")}
        return found if runs_a == runs_b else {p for p in found if p.parts[2] != "overview"}

    figs_a, figs_b = figures(work_a), figures(work_b)
    assert figs_b and (figs_b == figs_a if runs_a == runs_b else figs_b <= figs_a), sorted(figs_b ^ figs_a)[:10]
    return len(runs_b)


def require_root_tools(what: str, tools: list[str]) -> None:
    """Skip (with the reason) where the tools are missing or we are not root; under CI, fail:
    .ci/run installs them there, so a skip would hide a broken set-up."""
    missing = [t for t in tools if shutil.which(t) is None]
    reason = None
    if os.geteuid() != 0:
        reason = f"{what} needs root"
    elif missing:
        reason = f"{what} needs {', '.join(missing)} (bash .ci/install-services.sh installs them on Debian 12)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run this test, not skip it")
        pytest.skip(reason)
