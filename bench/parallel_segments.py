"""Parallel measurement: one run's replay as 1 segment, against the same replay split into 2 segments
run side by side (as `snakemake --cores 2` runs them), each a fresh process as a Snakemake job is.

The run: the default study's digits CNN (32 channels, 2 conv blocks, batch 32) for 160 epochs, so that
the replay, not the ~5 s start of a torch process, is most of a job (a paper run's segment takes hours).
A compute-bound model: the two cores share one L3 cache and memory bus, and two memory-bound replays
(e.g. a 2.2M-weight MLP) slow each other down by ~20% here.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

RUN = {"model": "cnn", "width": 32, "depth": 2, "batch_size": 32, "epochs": 160, "optimizer": "momentum",
       "lr": 0.01, "device": "cpu"}
HALF = RUN["epochs"] // 2


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
        two, one = _config(tmp, tmp / "results", HALF), _config(tmp, tmp / "results", RUN["epochs"])
        (run_id,) = load_file(two).runs
        _wait(_cli("reference", two, run_id))  # checkpoints at epochs 0, HALF and the end serve both splits
        t0 = time.perf_counter()
        _wait(_cli("measure", one, run_id, 0))
        single = time.perf_counter() - t0
        t0 = time.perf_counter()
        _wait(_cli("measure", two, run_id, 0), _cli("measure", two, run_id, 1))
        split = time.perf_counter() - t0
    return {"one_segment_s": single, "two_segments_s": split, "ratio": split / single}


if __name__ == "__main__":
    print(run())
