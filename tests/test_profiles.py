"""The Snakemake profiles parse and plan the default study; the SLURM profile carries the
settings a cluster without accounting needs."""
import yaml

from .conftest import ROOT
from .workflow import reduced_default_config, snakemake, without_torch, write


def test_local_profile_plans_the_default_study_without_torch(tmp_path):
    write(tmp_path / "config.yaml", reduced_default_config())
    proc = snakemake(tmp_path, "--profile", str(ROOT / "profiles/local"), "--dry-run", cores=False,
                     env=without_torch(tmp_path / "no_torch"))
    assert "reference" in proc.stdout and "measure_segment" in proc.stdout


def test_slurm_profile_settings():
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm"
    # sacct needs slurmdbd; squeue works everywhere (with MinJobAge >= 3x the first-check delay).
    assert profile["slurm-status-command"] == "squeue"
    assert profile["retries"] >= 1 and profile["slurm-requeue"] is True
    assert profile["show-failed-logs"] is True
    assert "--nv" in profile["apptainer-args"]
