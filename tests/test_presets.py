"""The paper's study presets (presets/*.yaml) and the modern recipes (presets/modern/*.yaml): each validates,
names its command, declares its cluster resources and its own results folder, and builds its full DAG in a
Snakemake dry run; the paper's without torch.

Fast (a dry run per preset, run a few at a time): no job runs. Planning fingerprints the data and
checks its layout, so each dry run gets a few generated files in the data set's real format at the
preset's placeholder data_dir (and tokenizer and init_from); a preset with data_dir: auto gets none, and its
dry run plans the download, as on a fresh machine. A modern preset's planning checks its zoo model
and weights in a subprocess that imports torch, so its dry run is not made torch-free.
"""
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from nowrongturns.config import load

from .conftest import ROOT, example_module
from .workflow import job_stats, without_torch

PRESET_DIR = ROOT / "presets"
PAPER = sorted(PRESET_DIR.glob("*.yaml"))
MODERN = sorted((PRESET_DIR / "modern").glob("*.yaml"))
PRESETS = PAPER + MODERN
SNAKEFILE = ROOT / "Snakefile"
IDS = [p.stem for p in PRESETS]


def raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def load_preset(path: Path):
    """The preset's runs, its data unread (its placeholder folders are elsewhere)."""
    return load(raw(path), read_data=False)


def write_data(work: Path, path: Path) -> None:
    """Small data sets in their real on-disk formats where the preset's placeholders point, and a tokenizer and
    a weights file where it names them."""
    from .test_fingerprint import corpus
    from .test_loaders import write_cifar_batches, write_imagenet, write_vaihingen

    writers = {"cifar10": lambda d: write_cifar_batches(d / "cifar-10-batches-py"), "imagenet": write_imagenet,
               "wikitext2": lambda d: corpus(d, 20), "vaihingen": lambda d: write_vaihingen(d, [1, 3]),
               "image_folder": lambda d: example_module("make_shapes").write_shapes(d, train=2, val=1),
               "text": lambda d: example_module("make_text").write_corpus(d, lines=50)}
    pipe = load_preset(path)
    runs = pipe.runs.values()
    for dataset, folder in {(r.settings["dataset"], r.settings["data_dir"]) for r in runs if r.settings.get("data_dir")}:
        if folder not in pipe.fetched.values():  # data_dir: auto plans its download instead
            writers[dataset](work / folder)
    for run in runs:
        if run.settings.get("tokenizer"):
            example_module("make_text").train_tokenizer(work / run.settings["data_dir"], work / run.settings["tokenizer"])
        if run.settings.get("init_from"):  # one tensor of the model, and a head the prefix map drops
            import torch
            from safetensors.torch import save_file

            weights = {"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.bias": torch.zeros(1000)}
            save_file(weights, str(work / run.settings["init_from"]))


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory) -> dict:
    """{preset stem: (working dir, completed process)} of one dry run per preset, from a folder with only data."""
    works = {p.stem: tmp_path_factory.mktemp(p.stem) for p in PRESETS}
    for path in PRESETS:
        write_data(works[path.stem], path)

    no_torch = {**os.environ, **without_torch(tmp_path_factory.mktemp("no_torch"))}  # planning is torch-free

    def dry_run(path: Path):
        cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--configfile", str(path),
               "--dry-run", "--cores", "1"]
        env = no_torch if path in PAPER else None
        return subprocess.run(cmd, cwd=works[path.stem], capture_output=True, text=True, timeout=300, env=env)

    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1))) as pool:
        procs = dict(zip(IDS, pool.map(dry_run, PRESETS), strict=True))
    return {stem: (works[stem], proc) for stem, proc in procs.items()}


def test_there_are_presets():
    assert len(PAPER) >= 12 and len(MODERN) >= 3
    for path in PAPER:
        assert re.fullmatch(r"(fig|tab)\d\d[a-z0-9_]*", path.stem), f"{path.name}: name it after its figure/table"
    for path in MODERN:  # named after what they train; IDS must stay unique across both folders
        assert re.fullmatch(r"[a-z][a-z0-9_]*", path.stem) and not re.match(r"(fig|tab)\d\d", path.stem), path.name
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("path", PRESETS, ids=IDS)
def test_preset_loads_and_validates(path):
    pipe = load_preset(path)
    assert pipe.runs and pipe.studies


@pytest.mark.parametrize("path", PRESETS, ids=IDS)
def test_preset_declares_resources_measure_and_its_own_results_folder(path):
    cfg = raw(path)
    assert cfg["results"] == f"results/{path.stem}"
    resources = cfg.get("resources") or {}
    assert {"gpu", "mem_mb", "runtime"} <= set(resources) <= {"gpu", "mem_mb", "runtime", "nodes"}, \
        f"{path.name}: resources must give gpu, mem_mb, runtime (and nodes, for runs of several ranks)"
    assert resources["runtime"] >= 1 and resources["mem_mb"] >= 100
    assert {"checkpoint_every", "drift_tolerance"} <= set(cfg.get("measure") or {})
    pipe = load_preset(path)
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
    assert f"snakemake --cores all --configfile {path.relative_to(ROOT)}" in header
    if path in PAPER:
        assert re.search(r"\b(Figure|Table) \d+", header)
    else:  # a modern recipe says where it comes from, and which extra its zoo model needs
        assert re.search(r"^# Recipe: \S", header, re.MULTILINE)
        zoo = {r.settings["model"].split(":")[0] for r in load_preset(path).runs.values() if ":" in r.settings["model"]}
        assert all(f"pip install -e '.[{z}]'" in header for z in zoo), (path.name, zoo)


@pytest.mark.parametrize("path", PRESETS, ids=IDS)
def test_dry_run_plans_the_full_dag(path, dry_runs):
    work, proc = dry_runs[path.stem]
    assert proc.returncode == 0, f"dry run of {path.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    jobs = job_stats(proc.stdout)
    pipe = load_preset(path)
    n_runs = len(pipe.runs)
    # Every run is trained (`reference`) or, when it is a shorter epoch budget of a longer run with the
    # same trajectory, cut from that run's checkpoints (`prefix_reference`, where the pipeline has it).
    trunks = {pipe.trunk[r] for r in pipe.runs} if getattr(pipe, "trunk", None) else set(pipe.runs)
    assert jobs.get("reference", 0) == len(trunks) >= 1
    assert jobs.get("reference", 0) + jobs.get("prefix_reference", 0) == n_runs
    assert jobs.get("measure_segment", 0) == sum(len(pipe.segments(r)) for r in trunks)
    assert jobs.get("aggregate", 0) == n_runs
    assert jobs.get("figure", 0) == sum(len(s.figures) for s in pipe.studies.values())
    # data_dir: auto on a fresh machine: one download per data set, planned as a job
    assert jobs.get("fetch_data", 0) == len(pipe.fetched)
    # Planning wrote nothing but its caches (fingerprints; the verdicts of a modern preset's checks).
    written = [p.relative_to(work / pipe.results) for p in (work / "results").rglob("*") if p.is_file()]
    assert all(p.parts[0] == ".cache" for p in written), written


def test_multi_node_preset_asks_for_a_gpu_per_rank_over_its_nodes(dry_runs):
    path = PRESET_DIR / "fig02b_imagenet_resnet50_8gpus_2nodes.yaml"
    (run,) = load_preset(path).runs.values()
    assert run.settings["world_size"] == 8 and "-ws8-" in run.run_id
    assert raw(path)["resources"] == {**raw(path)["resources"], "gpu": 1, "nodes": 2}
    _, proc = dry_runs[path.stem]
    # The dry run prints each job's resources: 8 GPUs, 8 tasks over 2 nodes, srun as the launcher.
    job = proc.stdout.split("rule reference:")[1].split("\n\n")[0]
    for wanted in ("gpu=8", "tasks=8", "nodes=2", "mpi=srun", "tasks_per_gpu=1", "cpus_per_task=9"):
        assert wanted in job, (wanted, job)
