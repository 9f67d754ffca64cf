"""Runs of 2 and 3 gloo ranks on CPU, started by the command as a user (or a Snakemake job) would:
exact replay, kill-and-resume, a rank that dies, and world size 2 against 1 at the same global batch."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from nowrongturns.config import load_file
from nowrongturns.geometry.metrics import metrics
from nowrongturns.storage import paths
from nowrongturns.storage.files import load_tensors

from .conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

MLP = {"dataset": "digits", "model": "mlp", "width": 32, "depth": 2, "optimizer": "momentum", "lr": 0.05,
       "batch_size": 48, "epochs": 4}
# BatchNorm, dropout and random crops: every per-rank source of state and randomness.
CNN = {**MLP, "model": "cnn", "width": 4, "dropout": 0.1, "augment": True, "weight_decay": 5e-4}


def _config(tmp_path, name, base, every=2):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"results": name, "measure": {"checkpoint_every": every},
                                    "studies": {"s": {"base": base}}}))
    (run_id,) = load_file(path).runs
    return path, run_id, tmp_path / name / "runs" / run_id


def _drift(run_dir, segment):
    return json.loads(pq.read_schema(run_dir / f"measure/segment_{segment}.parquet").metadata[b"drift"])


def _w_star(run_dir):
    return load_tensors(run_dir / "reference/w_star.pt")["w"]


def _gamma(run_dir):
    raw = pd.concat(pd.read_parquet(p) for p in sorted((run_dir / "measure").glob("segment_*.parquet")))
    target = raw.columns[raw.columns.str.startswith("g_dot_d@")][0].split("@")[1]
    return metrics(raw[f"g_dot_d@{target}"], raw["g_sq"], raw[f"d_sq@{target}"])["gamma"]


def test_replay_is_exact_under_2_and_3_ranks_and_2_ranks_stay_near_1(tmp_path):
    runs = {}
    for name, base, segments in (("ws1", MLP, (0, 1)), ("ws2", {**MLP, "world_size": 2}, (0, 1)),
                                 ("ws3", {**CNN, "world_size": 3}, (1,))):
        cfg, run_id, run_dir = _config(tmp_path, name, base)
        run_cli("reference", cfg, run_id, cwd=tmp_path)
        for segment in segments:
            proc = run_cli("measure", cfg, run_id, segment, cwd=tmp_path)
            drift = _drift(run_dir, segment)
            # Replay from the checkpoint retraces the reference pass bit for bit (the job fails otherwise).
            assert drift["drift"] == drift["d_drift"] == drift["buffer_max_abs_diff"] == 0.0
            if name != "ws1":
                assert f"x {base['world_size']} ranks" in drift["device"]
                assert "this rank measures weights" in proc.stderr
        runs[name] = run_dir
    assert "-ws2-" in runs["ws2"].name and "-ws" not in runs["ws1"].name

    # The same global batches, the gradient averaged over 2 ranks: the same run to float rounding.
    w1, w2, w0 = _w_star(runs["ws1"]), _w_star(runs["ws2"]), load_tensors(runs["ws1"] / "reference/w0.pt")["w"]
    assert torch.equal(w0, load_tensors(runs["ws2"] / "reference/w0.pt")["w"])
    rel = float((w2 - w1).double().norm() / (w1 - w0).double().norm())
    gamma_diff = float(np.abs(_gamma(runs["ws2"]) - _gamma(runs["ws1"])).max())
    print(f"\nworld size 2 vs 1 (digits MLP, 4 epochs x 29 steps, float32): ‖w*₂ − w*₁‖/‖w*₁ − w0‖ = {rel:.3e}, "
          f"max |γ₂ − γ₁| over steps = {gamma_diff:.3e}; identical: {torch.equal(w1, w2)}")
    assert rel < 1e-4 and gamma_diff < 1e-4


def _pids(logs, deadline):
    pids = {}
    while len(pids) < len(logs):
        assert time.time() < deadline, "the ranks did not start"
        for rank, log in enumerate(logs):
            found = log.exists() and re.search(r"rank \d+ of \d+ .*pid (\d+)", log.read_text())
            if found:
                pids[rank] = int(found.group(1))
        time.sleep(0.01)
    return pids


def test_a_killed_rank_fails_the_job_with_its_log_and_the_rerun_resumes_bitwise(tmp_path):
    base = {**MLP, "width": 256, "depth": 3, "batch_size": 16, "epochs": 30, "world_size": 2}
    cfg, run_id, run_dir = _config(tmp_path, "killed", base)
    proc = subprocess.Popen([sys.executable, "-m", "nowrongturns", "reference", str(cfg), run_id], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    logs = [run_dir / f"logs/ranks/reference.rank{r}.log" for r in range(2)]
    deadline = time.time() + 120
    pids = _pids(logs, deadline)
    while not Path(paths.checkpoint(str(run_dir), 2)).exists():
        assert proc.poll() is None and time.time() < deadline, "the reference pass ended before it could be killed"
        time.sleep(0.01)
    # Rank 0 held still (rank 1 then waits for it in the all-reduce), rank 1 killed, rank 0 let go.
    os.kill(pids[0], signal.SIGSTOP)
    os.kill(pids[1], signal.SIGKILL)
    os.kill(pids[0], signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "RankFailed: rank 1 of 2 failed" in err and str(logs[1].relative_to(tmp_path)) in err, err[-3000:]
    assert "rank 1 of 2 (local rank 1)" in err  # rank 1's own log, quoted in the job's error
    assert not (run_dir / "reference/w_star.pt").exists()
    kept = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "reference/checkpoints").glob("epoch_*.pt"))
    for epoch in kept:  # nothing half-written: every checkpoint there is whole
        load_tensors(paths.checkpoint(str(run_dir), epoch), weights_only=False)
    assert 2 <= kept[-1] < base["epochs"]

    resumed = run_cli("reference", cfg, run_id, cwd=tmp_path)
    assert f"resuming from the checkpoint of epoch {kept[-1]}" in resumed.stderr
    cfg_full, _, full_dir = _config(tmp_path, "uninterrupted", base)
    run_cli("reference", cfg_full, run_id, cwd=tmp_path)
    assert torch.equal(_w_star(run_dir), _w_star(full_dir))
    print(f"\nrank 1 killed after the checkpoint of epoch {kept[-1]} of {base['epochs']}; the rerun resumed there "
          f"and its w* equals the uninterrupted run's bit for bit")
