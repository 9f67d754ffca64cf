"""Part of the reduced default study submitted to a real SLURM cluster through profiles/slurm.

`.ci/slurm.sh` brings the cluster up (Debian's slurm-wlm and munge; one machine, two compute
nodes) and down again, also when a test fails. Skips where that is impossible (not root,
packages missing); under CI it must run.
"""
import re
import subprocess

import pytest

from .conftest import ROOT
from .workflow import (
    GPU_RULES,
    SUBSET,
    assert_same_results,
    reduced_default_config,
    require_root_tools,
    snakemake,
    write,
)

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
PROFILE = ROOT / "profiles" / "slurm"
# The profile's first status check comes after 20 s; a test on an idle cluster need not wait that long.
FAST = ["--slurm-init-seconds-before-status-checks", "5", "--jobs", "8"]


@pytest.fixture(scope="module")
def cluster():
    require_root_tools("the SLURM test", ["slurmctld", "slurmd", "munged", "sbatch", "squeue"])
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install -e '.[test]' brings the SLURM plugin")
    up = subprocess.run(["bash", ROOT / ".ci/slurm.sh", "up"], capture_output=True, text=True, timeout=120)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield
    finally:
        subprocess.run(["bash", ROOT / ".ci/slurm.sh", "down"], capture_output=True, timeout=60)


def test_reduced_study_runs_as_slurm_jobs_and_equals_a_local_run(cluster, local_reduced_study, tmp_path):
    cfg = reduced_default_config(SUBSET)
    cfg["resources"] = {"gpu": 1}  # as a preset asks; this cluster has no GPUs, so the command overrides it
    write(tmp_path / "config.yaml", cfg)
    proc = snakemake(tmp_path, "--profile", str(PROFILE), *FAST,
                     "--set-resources", *(f"{rule}:gpu=0" for rule in GPU_RULES), cores=False, timeout=2400)
    logs = sorted((tmp_path / "results").rglob("logs/*.log"))
    job_ids, nodes = {}, {}
    for log in logs:
        first = log.read_text().splitlines()[0]
        found = re.search(r"slurm_job_id=(\d+) slurm_node=(\S+)", first)
        assert found, f"{log} did not run as a SLURM job: {first}"
        job_ids[log], nodes[log] = int(found.group(1)), found.group(2)
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", proc.stdout + proc.stderr)
    assert len(set(job_ids.values())) == len(logs) == len(submitted), (len(logs), len(submitted))
    assert set(job_ids.values()) == set(map(int, submitted))
    # Measurement segments of one run are jobs of their own, and they spread over the nodes.
    segments = [log for log in logs if log.name.startswith("measure_segment_")]
    assert len(segments) == 8  # 4 runs, 2 segments each (4 epochs, a checkpoint every 2)
    assert {nodes[log] for log in segments} == {"nwt-1", "nwt-2"}
    split = {log.parent for log in segments if len({nodes[s] for s in log.parent.glob("measure_segment_*.log")}) == 2}
    assert assert_same_results(local_reduced_study, tmp_path) == 4
    print(f"\n{len(logs)} SLURM jobs, ids {min(job_ids.values())}..{max(job_ids.values())}; "
          f"{len(split)} runs had their two segments on different nodes; jobs per node "
          f"{ {n: list(nodes.values()).count(n) for n in sorted(set(nodes.values()))} }")


def test_failing_cluster_job_fails_the_run_and_shows_its_log(cluster, tmp_path):
    cfg = {"measure": {"checkpoint_every": 1},
           "studies": {"sm": {"base": {"dataset": "none", "model": "sinusoidal_mixture", "width": 20, "epochs": 1,
                                       "steps_per_epoch": 30, "lr": 1000.0}, "figures": ["counterexamples"]}}}
    write(tmp_path / "config.yaml", cfg)
    proc = snakemake(tmp_path, "--profile", str(PROFILE), *FAST, "--retries", "0", cores=False, check=False,
                     timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in rule reference" in out
    # --show-failed-logs: the job's own log, with the reason, is in the output (retried twice).
    assert re.search(r"Diverged: .*diverged at epoch 0 step \d+", out), out[-3000:]
    assert re.search(r"slurm_job_id=\d+", out)


def test_a_run_of_two_ranks_spreads_over_the_two_nodes_and_equals_a_local_one(cluster, tmp_path):
    """One run of the reduced study with world_size 2 through the profile: its jobs ask for 2 tasks on 2 nodes
    (the plugin's tasks, mpi and nodes keys), srun starts a rank on each, and the results equal those of the
    same run started locally by torchrun."""
    cfg = reduced_default_config(["seeds"])
    study = cfg["studies"]["seeds"]
    del study["overrides"]  # one run: seed 0
    cfg["studies"] = {"seeds": {**study, "base": {**study["base"], "world_size": 2}}}
    cfg["resources"] = {"nodes": 2}
    local, cluster_dir = tmp_path / "local", tmp_path / "cluster"
    for work in (local, cluster_dir):
        work.mkdir()
        write(work / "config.yaml", cfg)
    snakemake(local, timeout=900)
    snakemake(cluster_dir, "--profile", str(PROFILE), *FAST, cores=False, timeout=1200)
    (run_dir,) = (cluster_dir / "results/runs").iterdir()
    assert "-ws2-" in run_dir.name
    for job in ("reference", "measure_segment_0", "measure_segment_1"):
        first = (run_dir / "logs" / f"{job}.log").read_text().splitlines()[0]
        assert re.search(r"slurm_job_id=\d+", first), first
        nodes = []
        for rank in (0, 1):
            rank_log = (run_dir / "logs/ranks" / f"{job}.rank{rank}.log").read_text()
            nodes.append(re.search(r"slurm_node=(\S+)", rank_log.splitlines()[0]).group(1))
            assert f"rank {rank} of 2" in rank_log and "rank done" in rank_log
        assert sorted(nodes) == ["nwt-1", "nwt-2"], (job, nodes)
    assert assert_same_results(local, cluster_dir) == 1
    print(f"\n{run_dir.name}: reference and both segments ran as 2 srun tasks, rank 0 on {nodes[0]} and rank 1 on "
          f"{nodes[1]}; tables and w* equal to the local torchrun run's")
