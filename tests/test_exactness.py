"""Exact replay on CPU: separate processes agree bitwise, replay drift is 0, kill-and-resume is exact."""
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import torch
import yaml

from nowrongturns.config import load_file
from nowrongturns.storage.files import load_tensors, save_tensors

from .conftest import ROOT, run_cli

# BatchNorm buffers, dropout, random crops, momentum, weight decay and a cosine schedule:
# every source of state and randomness the protocol has to carry.
CNN = {"model": "cnn", "width": 4, "depth": 2, "dropout": 0.1, "augment": True, "optimizer": "momentum",
       "lr": 0.05, "weight_decay": 5e-4, "schedule": "cosine", "warmup_epochs": 1, "batch_size": 32}


def _config(tmp_path, name, epochs, every, results="results"):
    cfg = {"results": results, "measure": {"checkpoint_every": every},
           "studies": {"s": {"base": {**CNN, "epochs": epochs}}}}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    (run_id,) = load_file(path).runs
    return path, run_id


def _w_star(tmp_path, results, run_id):
    return torch.load(tmp_path / results / "runs" / run_id / "reference" / "w_star.pt")["w"]


def test_two_processes_give_bitwise_equal_w_star_and_replay_drift_is_zero(tmp_path):
    cfg_a, run_id = _config(tmp_path, "a.yaml", epochs=4, every=2, results="results_a")
    cfg_b, _ = _config(tmp_path, "b.yaml", epochs=4, every=2, results="results_b")
    run_cli("reference", cfg_a, run_id, cwd=tmp_path)
    run_cli("reference", cfg_b, run_id, cwd=tmp_path)
    a, b = _w_star(tmp_path, "results_a", run_id), _w_star(tmp_path, "results_b", run_id)
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.load(tmp_path / "results_a/runs" / run_id / "reference/w0.pt")["w"])

    for segment in (0, 1):
        run_cli("measure", cfg_a, run_id, segment, cwd=tmp_path)
        path = tmp_path / "results_a/runs" / run_id / "measure" / f"segment_{segment}.parquet"
        drift = json.loads(pq.read_schema(path).metadata[b"drift"])
        assert drift["drift"] == 0.0
        assert drift["buffer_max_abs_diff"] == 0.0  # BatchNorm statistics replay exactly too
        assert pq.read_table(path).num_rows == 2 * drift_steps_per_epoch(cfg_a, run_id)


def drift_steps_per_epoch(cfg, run_id):
    from nowrongturns.tasks.data import steps_per_epoch

    return steps_per_epoch(1437, load_file(cfg).runs[run_id].settings["batch_size"])


def test_drift_above_tolerance_fails_naming_run_and_segment(tmp_path):
    cfg, run_id = _config(tmp_path, "c.yaml", epochs=2, every=1)
    run_cli("reference", cfg, run_id, cwd=tmp_path)
    # Move the reference checkpoint at the segment's end (its checksum rewritten, so that only the
    # drift check can notice): the replay no longer matches it.
    ckpt = tmp_path / "results/runs" / run_id / "reference/checkpoints/epoch_0002.pt"
    state = load_tensors(ckpt, weights_only=False)
    first = next(k for k in state["model"] if k.endswith("weight"))
    state["model"][first] += 1e-3
    save_tensors(state, ckpt)
    proc = run_cli("measure", cfg, run_id, 1, cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert f"run {run_id} segment 1 (epochs 1-1): replay drift" in proc.stderr
    assert "exceeds drift_tolerance 0" in proc.stderr
    assert not (tmp_path / "results/runs" / run_id / "measure/segment_1.parquet").exists()


def test_drift_bounds_the_error_of_d_and_checks_buffers_and_w_star(tmp_path):
    """Each check on its own: a tolerance above 0 that the old drift (relative to the path walked) lets
    through, but the error of d = w − w* does not; a BatchNorm statistic off; w* itself off."""
    cfg, run_id = _config(tmp_path, "t.yaml", epochs=3, every=2)
    text = yaml.safe_load(cfg.read_text())
    text["measure"]["drift_tolerance"] = 1e-3
    cfg.write_text(yaml.safe_dump(text))
    run_cli("reference", cfg, run_id, cwd=tmp_path)
    ref = tmp_path / "results/runs" / run_id / "reference"
    ckpt2, w_star_path = ref / "checkpoints/epoch_0002.pt", ref / "w_star.pt"
    original2, original_star = load_tensors(ckpt2, weights_only=False), load_tensors(w_star_path)
    w0 = load_tensors(ref / "w0.pt")["w"].double()
    w2 = torch.cat([original2["model"][n].reshape(-1) for n in original2["param_names"]]).double()
    walked, remaining = float((w2 - w0).norm()), float((w2 - original_star["w"].double()).norm())
    assert walked > remaining  # 2 epochs walked, 1 to go at a decaying lr

    def moved(state, name, delta):
        out = {**state, "model": dict(state["model"])}
        out["model"][name] = state["model"][name] + delta
        return out

    def measure(segment):
        proc = run_cli("measure", cfg, run_id, segment, cwd=tmp_path, check=False)
        assert proc.returncode != 0
        return proc.stderr

    # 1. Weights off by e with ‖e‖/walked < 1e-3 < ‖e‖/remaining: only the error of d exceeds it.
    name = original2["param_names"][0]
    e = torch.ones_like(original2["model"][name])
    e *= 1e-3 * (walked * remaining) ** 0.5 / float(e.norm())
    save_tensors(moved(original2, name, e), ckpt2)
    assert "replay drift" in (err := measure(0)) and "(d against the w* of budget 3 at epoch 2)" in err
    # 2. A BatchNorm running mean off, the weights exact.
    bn = next(k for k in original2["model"] if k.endswith("running_mean"))
    save_tensors(moved(original2, bn, 0.5), ckpt2)
    assert f"(buffers vs the checkpoint of epoch 2 (most: {bn}))" in measure(0)
    save_tensors(original2, ckpt2)
    # 3. w* off by 1% of the last epoch's step; the checkpoints exact.
    star = original_star["w"].clone()
    star[0] += 0.01 * remaining
    save_tensors({**original_star, "w": star}, w_star_path)
    err = measure(1)  # measured against w* itself, and the error of d at the last step is the larger
    assert "(d against the w* of budget 3 at its last step)" in err and "also above it: weights vs the w* of budget 3" in err
    save_tensors(original_star, w_star_path)
    run_cli("measure", cfg, run_id, 1, cwd=tmp_path)
    info = json.loads(pq.read_schema(ref.parent / "measure/segment_1.parquet").metadata[b"drift"])
    assert info["drift"] == info["d_drift"] == info["buffer_drift"] == 0.0


def test_replay_refuses_a_w_star_with_a_flipped_bit(tmp_path):
    from .test_io import flip_bit

    cfg, run_id = _config(tmp_path, "f.yaml", epochs=1, every=1)
    run_cli("reference", cfg, run_id, cwd=tmp_path)
    w_star = tmp_path / "results/runs" / run_id / "reference/w_star.pt"
    flip_bit(w_star, _w_star(tmp_path, "results", run_id)[:4].numpy().tobytes(), 3, 0)
    proc = run_cli("measure", cfg, run_id, 0, cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert f"results/runs/{run_id}/reference/w_star.pt is corrupt: its content no longer matches" in proc.stderr
    assert not (tmp_path / "results/runs" / run_id / "measure/segment_0.parquet").exists()


def test_kill_and_resume_gives_bitwise_equal_w_star(tmp_path):
    epochs = 40
    cfg, run_id = _config(tmp_path, "k.yaml", epochs=epochs, every=2, results="killed")
    cfg_full, _ = _config(tmp_path, "f.yaml", epochs=epochs, every=2, results="full")
    ckpts = tmp_path / "killed/runs" / run_id / "reference/checkpoints"
    proc = subprocess.Popen([sys.executable, "-m", "nowrongturns", "reference", str(cfg), run_id], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (ckpts / "epoch_0004.pt").exists():
        assert proc.poll() is None and time.time() < deadline, "reference pass ended before it could be killed"
        time.sleep(0.005)
    # A second process for the same run, as a rerun after Snakemake was killed would start
    # (the first stopped meanwhile, holding its lock, so that it cannot finish first).
    os.kill(proc.pid, signal.SIGSTOP)
    second = run_cli("reference", cfg, run_id, cwd=tmp_path, check=False)
    assert second.returncode != 0
    assert f"the reference pass of run {run_id} is being computed by pid {proc.pid} on host " in second.stderr
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed/runs" / run_id / "reference/w_star.pt").exists()
    killed_at = max(int(p.stem.split("_")[1]) for p in ckpts.glob("epoch_*.pt"))
    assert 4 <= killed_at < epochs
    assert not list(ckpts.glob("*.tmp"))  # nothing half-written survives as a checkpoint

    resumed = run_cli("reference", cfg, run_id, cwd=tmp_path)
    assert f"resuming from the checkpoint of epoch {killed_at}" in resumed.stderr
    run_cli("reference", cfg_full, run_id, cwd=tmp_path)
    assert torch.equal(_w_star(tmp_path, "killed", run_id), _w_star(tmp_path, "full", run_id))


def test_unknown_run_id_is_an_error(tmp_path):
    proc = run_cli("reference", ROOT / "config.yaml", "no-such-run", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "unknown run id 'no-such-run'" in proc.stderr


@pytest.mark.parametrize("optimizer, lr", [("sgd", 1e3), ("momentum", 1e3), ("adam", 1e37)])
def test_divergence_names_epoch_and_step(make_settings, optimizer, lr):
    from nowrongturns.train.engine import Diverged, Trainer

    # SM with a huge step: |w| grows until the float32 loss overflows.
    s = make_settings(dataset="none", model="sinusoidal_mixture", width=20, optimizer=optimizer, lr=lr,
                      steps_per_epoch=50, epochs=3)
    with pytest.raises(Diverged, match=r"^run boom: diverged at epoch 0 step \d+ \(step \d+ of the epoch\)"):
        Trainer(s, "boom").train(3)


def test_auto_device_replay_follows_the_reference_device(tmp_path):
    cfg, run_id = _config(tmp_path, "auto.yaml", epochs=2, every=1)  # device: auto (the default)
    run_cli("reference", cfg, run_id, cwd=tmp_path)
    ckpt = tmp_path / "results/runs" / run_id / "reference/checkpoints/epoch_0001.pt"
    state = load_tensors(ckpt, weights_only=False)
    assert state["device"] == "cpu"  # no GPU visible here
    # A reference pass that ran on a GPU is replayed on a GPU: here, where none is visible, that
    # is an error before any work, not a replay on the CPU that would drift.
    state["device"] = "cuda"
    save_tensors(state, ckpt)
    proc = run_cli("measure", cfg, run_id, 1, cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert f"the reference pass of {run_id} ran on cuda, but no CUDA device is visible" in proc.stderr


def test_gpu_kernel_policies_set_the_documented_switches(monkeypatch):
    from nowrongturns.parallel.device import set_gpu_kernels

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        set_gpu_kernels("fast")
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        set_gpu_kernels("deterministic")
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.benchmark and not torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        with pytest.raises(ValueError, match="gpu_kernels = 'quick'"):
            set_gpu_kernels("quick")
    finally:  # torch's defaults, for the tests that follow in this process
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = True


def test_bf16_autocast_replays_bitwise_from_a_checkpoint(tmp_path, make_settings):
    """precision bf16: float32 master weights, the training forward under bfloat16 autocast. Replayed from a
    checkpoint in another Trainer, the run lands on the same w* bit for bit, and it is not the float32 run."""
    from nowrongturns.reference import run_reference
    from nowrongturns.replay import run_replay
    from nowrongturns.train.engine import Trainer

    s = make_settings(**{**CNN, "epochs": 2, "precision": "bf16", "device": "cpu"})
    ref = tmp_path / "reference"
    run_reference(s, "bf", tmp_path, 1, ref / "w0.pt", ref / "w_star.pt", ref / "history.parquet")
    w_star = load_tensors(ref / "w_star.pt")["w"]
    assert w_star.dtype == torch.float32
    info = run_replay(s, "bf", tmp_path, 1, 1, 2, {2: ref / "w_star.pt"}, tmp_path / "segment_1.parquet")
    assert info["drift"] == 0.0 and info["buffer_drift"] == 0.0
    float32 = Trainer({**s, "precision": "float32"})
    float32.train(2)
    assert not torch.equal(float32.flat.data, w_star)  # autocast did change the arithmetic
