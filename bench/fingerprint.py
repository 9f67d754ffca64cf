"""What fingerprinting the data costs at Snakemake's start, on a generated tree of 100,000 files.

The tree has CIFAR-10's image-folder layout (train/<class>/*.png, test/<class>/*.png), 256 random
bytes a file. Printed, all measured in this run:
  cold     the fingerprint with no cache: every file listed, stat'ed, and its ends read
  warm     with the cache (the case of every start after the first): listed and stat'ed only
  dry run  `snakemake --dry-run` of a one-run CIFAR-10 study on the tree, warm, beside the same
           dry run of a digits study (no data folder): their difference is the fingerprint's share

    python bench/fingerprint.py [N_FILES]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nowrongturns.storage.fingerprint import fingerprint  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_tree(root: Path, n: int) -> None:
    for split in ("train", "test"):
        for name in CLASSES:
            (root / split / name).mkdir(parents=True)
    for i in range(n):
        split = "test" if i % 6 == 0 else "train"
        (root / split / CLASSES[i % 10] / f"{i}.png").write_bytes(os.urandom(256))


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def dry_run(work: Path, study: dict) -> float:
    (work / "config.yaml").write_text(yaml.safe_dump({"studies": {"s": study}}))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--dry-run", "--cores", "1"]

    def once():
        subprocess.run(cmd, cwd=work, check=True, capture_output=True)

    once()  # the first start writes the cache
    return timed(once, repeat=3)


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "cifar10"
        t_make = timed(lambda: make_tree(data, n))
        cache = tmp / "cache"
        t_cold = timed(lambda: fingerprint(data, cache))
        t_warm = timed(lambda: fingerprint(data, cache), repeat=3)
        t_nocache = timed(lambda: fingerprint(data), repeat=1)
        (tmp / "w1").mkdir()
        (tmp / "w2").mkdir()
        cifar = {"base": {"dataset": "cifar10", "data_dir": str(data), "model": "medium_mlp", "epochs": 2},
                 "figures": ["gamma"]}
        digits = {"base": {"model": "mlp", "epochs": 2}, "figures": ["gamma"]}
        t_dry_cifar = dry_run(tmp / "w1", cifar)
        t_dry_digits = dry_run(tmp / "w2", digits)
    print(f"tree: {n:,} files, written in {t_make:.1f} s")
    print(f"fingerprint cold (no cache, ends read): {t_cold:.2f} s")
    print(f"fingerprint, no cache kept:             {t_nocache:.2f} s")
    print(f"fingerprint warm (cached):              {t_warm:.2f} s   ({t_warm / t_cold:.2f} x cold; goal < 2 s)")
    print(f"snakemake --dry-run, CIFAR-10 on the tree:  {t_dry_cifar:.2f} s")
    print(f"snakemake --dry-run, digits (no data):      {t_dry_digits:.2f} s")
    print(f"fingerprint's share of a warm start:        {t_dry_cifar - t_dry_digits:.2f} s "
          f"({t_dry_cifar / t_dry_digits:.2f} x the start without data)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
