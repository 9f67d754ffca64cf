"""The Snakemake layer's own cost: a dry run of a generated 1,000-run study, a no-op rerun of the
default study, and the per-job overhead (process start and imports) of a rule with no real work."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _snakemake(workdir, *args) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2", *args],
                   cwd=workdir, check=True, capture_output=True)
    return time.perf_counter() - t0


def dry_run_1000(workdir: Path) -> float:
    """1,000 runs: 10 lrs x 10 seeds x 10 widths of the digits MLP, 2 segments each."""
    cfg = {"measure": {"checkpoint_every": 10},
           "studies": {"grid": {"base": {"model": "mlp"},
                                "overrides": {"lr": [0.01 * (i + 1) for i in range(10)], "seed": list(range(10)),
                                              "width": [16 * (i + 1) for i in range(10)]},
                                "figures": ["gamma"]}}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    return _snakemake(workdir, "--dry-run", "--quiet")


def noop_rerun(workdir: Path) -> float:
    """The default study, run once, then run again with nothing to do."""
    shutil.copy(ROOT / "config.yaml", workdir / "config.yaml")
    _snakemake(workdir)
    return _snakemake(workdir)


def job_overhead(workdir: Path) -> dict:
    """Median wall time of a gather-like job (pandas only) and of a torch job doing no training steps,
    read from the default study's benchmark files."""
    import pandas as pd

    out = {}
    for rule in ("reference", "measure_segment_0", "aggregate"):
        files = list((workdir / "results/runs").glob(f"*/benchmarks/{rule}.tsv"))
        out[rule] = float(pd.concat([pd.read_csv(f, sep="\t") for f in files])["s"].median())
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, sklearn, nowrongturns.train.engine"], check=True)
    out["import torch + package"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", ("import torch, sklearn, nowrongturns.train.engine, nowrongturns.geometry.fused_cpu as f; "
                    "f.step_kernel(False, True, True, True)")], check=True)
    out["the same + Numba and the cached CPU kernel"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import pandas, pyarrow, nowrongturns.stats"], check=True)
    out["import pandas + stats"] = time.perf_counter() - t0
    return out


def run() -> dict:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        dry = dry_run_1000(Path(a))
        noop = noop_rerun(Path(b))
        jobs = job_overhead(Path(b))
    return {"dry_run_1000_s": dry, "noop_rerun_s": noop, "jobs_s": jobs}


if __name__ == "__main__":
    print(run())
