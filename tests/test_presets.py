"""The paper's study presets (presets/*.yaml): each validates, names its command, declares its cluster
resources and its own results folder, and builds its full DAG in a Snakemake dry run without any data.

Fast (a dry run per preset, run a few at a time): no job runs and no data set is read, so the
placeholder data_dir folders need not exist.
"""
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from nowrongturns.config import load_file

from .conftest import ROOT

PRESET_DIR = ROOT / "presets"
PRESETS = sorted(PRESET_DIR.glob("*.yaml"))
SNAKEFILE = ROOT / "Snakefile"
IDS = [p.stem for p in PRESETS]


def job_stats(stdout: str) -> dict:
    """The "Job stats:" table of a dry run as {rule: count} (the first table; `total` dropped)."""
    assert "Job stats:" in stdout, f"no job table in the dry run's output:\n{stdout[-3000:]}"
    table = stdout.split("Job stats:")[1].split("\n\n")[0]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M))
    jobs.pop("total", None)
    return {rule: int(n) for rule, n in jobs.items()}


def raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory) -> dict:
    """{preset stem: (working dir, completed process)} of one dry run per preset, from an empty folder."""
    works = {p.stem: tmp_path_factory.mktemp(p.stem) for p in PRESETS}

    def dry_run(path: Path):
        cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--configfile", str(path),
               "--dry-run", "--cores", "1"]
        return subprocess.run(cmd, cwd=works[path.stem], capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1))) as pool:
        procs = dict(zip(IDS, pool.map(dry_run, PRESETS)))
    return {stem: (works[stem], proc) for stem, proc in procs.items()}


def test_there_are_presets():
    assert len(PRESETS) >= 12
    for path in PRESETS:
        assert re.fullmatch(r"(fig|tab)\d\d[a-z0-9_]*", path.stem), f"{path.name}: name it after its figure/table"


@pytest.mark.parametrize("path", PRESETS, ids=IDS)
def test_preset_loads_and_validates(path):
    pipe = load_file(str(path))
    assert pipe.runs and pipe.studies


@pytest.mark.parametrize("path", PRESETS, ids=IDS)
def test_preset_declares_resources_measure_and_its_own_results_folder(path):
    cfg = raw(path)
    assert cfg["results"] == f"results/{path.stem}"
    resources = cfg.get("resources") or {}
    assert set(resources) == {"gpu", "mem_mb", "runtime"}, f"{path.name}: resources must give gpu, mem_mb, runtime"
    assert resources["runtime"] >= 1 and resources["mem_mb"] >= 100
    assert {"checkpoint_every", "drift_tolerance"} <= set(cfg.get("measure") or {})
    pipe = load_file(str(path))
    on_gpu = {r.settings["device"] for r in pipe.runs.values()} == {"cuda"}
    assert (resources["gpu"] >= 1) == on_gpu, f"{path.name}: GPU runs need gpu >= 1, CPU runs gpu 0"
    for run in pipe.runs.values():
        data_dir = run.settings.get("data_dir")
        if data_dir is not None:  # a relative placeholder, to be pointed at the real data
            assert data_dir.startswith("data/"), f"{path.name}: data_dir {data_dir!r}"


@pytest.mark.parametrize("path", PRESETS, ids=IDS)
def test_preset_header_names_its_figure_and_command(path):
    text = path.read_text()
    header = text.split("\nresults:")[0]
    assert f"snakemake --cores all --configfile presets/{path.name}" in header
    assert re.search(r"\b(Figure|Table) \d+", header)


@pytest.mark.parametrize("path", PRESETS, ids=IDS)
def test_dry_run_plans_the_full_dag_without_data(path, dry_runs):
    work, proc = dry_runs[path.stem]
    assert proc.returncode == 0, f"dry run of {path.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    jobs = job_stats(proc.stdout)
    pipe = load_file(str(path))
    n_runs = len(pipe.runs)
    # Every run is trained (`reference`) or, when it is a shorter epoch budget of a longer run with the
    # same trajectory, cut from that run's checkpoints (`prefix_reference`, where the pipeline has it).
    trunks = {pipe.trunk[r] for r in pipe.runs} if getattr(pipe, "trunk", None) else set(pipe.runs)
    assert jobs.get("reference", 0) == len(trunks) >= 1
    assert jobs.get("reference", 0) + jobs.get("prefix_reference", 0) == n_runs
    assert jobs.get("measure_segment", 0) == sum(len(pipe.segments(r)) for r in trunks)
    assert jobs.get("aggregate", 0) == n_runs
    assert jobs.get("figure", 0) == sum(len(s.figures) for s in pipe.studies.values())
    # Planning read nothing and wrote nothing: the placeholder data folders do not even exist.
    assert not (work / "data").exists() and not (work / "results").exists()
