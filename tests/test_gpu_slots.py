"""GPU slots: concurrent jobs on one workstation take different GPUs (locks, no GPU needed)."""
import subprocess
import sys

import pytest

from nowrongturns.parallel import gpu_slots


@pytest.fixture(autouse=True)
def private_locks(tmp_path, monkeypatch):
    monkeypatch.setenv("NOWRONGTURNS_GPU_LOCKS", str(tmp_path))


def claim_in_child(keys):
    code = f"from nowrongturns.parallel import gpu_slots; print(gpu_slots.claim({keys!r}, wait_s=0))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_jobs_take_free_gpus_in_turn_and_release_them_on_exit():
    keys = ["GPU-a", "GPU-b"]
    assert gpu_slots.claim(keys) == 0  # held by this process from now on
    child = claim_in_child(keys)
    assert child.returncode == 0 and child.stdout.strip() == "1"
    # The child has exited: its GPU is free again, this process still holds the first one.
    assert claim_in_child(keys).stdout.strip() == "1"


def test_all_gpus_held_is_an_error_naming_the_lock_folder(tmp_path):
    keys = ["GPU-a", "GPU-b"]
    gpu_slots.claim(keys)
    gpu_slots.claim(keys)
    child = claim_in_child(keys)
    assert child.returncode != 0
    assert "all 2 GPUs stayed held" in child.stderr and str(tmp_path) in child.stderr


def test_one_visible_gpu_needs_no_lock(tmp_path):
    assert gpu_slots.claim(["GPU-only"]) == 0
    assert list(tmp_path.iterdir()) == []


def test_a_job_of_several_ranks_takes_its_gpus_all_at_once(tmp_path):
    keys = ["GPU-a", "GPU-b", "GPU-c"]
    assert gpu_slots.claim(keys) == 0
    assert gpu_slots.claim_many(keys, 2) == [1, 2]
    code = f"from nowrongturns.parallel import gpu_slots; print(gpu_slots.claim_many({keys!r}, 2, wait_s=0))"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode != 0 and "2 of the 3 GPUs were never free at once" in child.stderr
