"""Parallel measurement: one run's replay as 1 segment, against the same replay split into 2 segments
run side by side (as `snakemake --cores 2` runs them), each a fresh process as a Snakemake job is.

The run: the digits MLP widened to 1024 units (3 hidden layers, 2.2M weights, batch 32, 40 epochs),
so that the replay, not the ~5 s start of a torch process, is most of a job.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

RUN = {"model": "mlp", "width": 1024, "depth": 3, "batch_size": 32, "epochs": 40, "optimizer": "momentum",
       "lr": 0.01, "device": "cpu"}


def _config(folder: Path, results: Path, every: int) -> Path:
    path = folder / f"every{every}.yaml"
    path.write_text(yaml.safe_dump({"results": str(results), "measure": {"checkpoint_every": every},
                                    "studies": {"wide": {"base": RUN, "figures": ["gamma"]}}}))
    return path


def _cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nowrongturns", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait(*procs) -> None:
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{p.args} failed:\n{err[-3000:]}")


def run() -> dict:
    from nowrongturns.config import load_file

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        two, one = _config(tmp, tmp / "results", 20), _config(tmp, tmp / "results", 40)
        (run_id,) = load_file(two).runs
        _wait(_cli("reference", two, run_id))  # checkpoints at epochs 0, 20 and 40 serve both splits
        t0 = time.perf_counter()
        _wait(_cli("measure", one, run_id, 0))
        single = time.perf_counter() - t0
        t0 = time.perf_counter()
        _wait(_cli("measure", two, run_id, 0), _cli("measure", two, run_id, 1))
        split = time.perf_counter() - t0
    return {"one_segment_s": single, "two_segments_s": split, "ratio": split / single}


if __name__ == "__main__":
    print(run())
