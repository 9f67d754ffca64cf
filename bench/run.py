"""Run every CPU benchmark and write bench/RESULTS.md (one command: `python bench/run.py`).

Figures are ratios measured side by side in one process, not absolute timings to compare across
machines. Not part of the test suite: timed tests are flaky on shared machines.
"""
from __future__ import annotations

import datetime
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import metrics_floor  # noqa: E402
import pipeline_scale  # noqa: E402
import step_overhead  # noqa: E402


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    lines = [
        "# Benchmarks",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {_cpu()}, {torch.get_num_threads()} torch threads available, 1 used per job",
        f"- torch {torch.__version__}, Python {platform.python_version()}",
        "",
        "## 1. Step overhead (CPU, medians over epochs of the mean step time; interleaved variants)",
        "",
        "| model | steps timed | plain ms | reference/plain | measure/plain | paper way/plain "
        "| paper overhead / ours |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, r in step_overhead.run().items():
        lines.append(f"| {model} | {r['steps_timed']} | {r['plain_ms']:.3f} | {r['reference/plain']:.3f} "
                     f"| {r['measure/plain']:.3f} | {r['paper/plain']:.3f} | {r['paper overhead / ours']:.2f} |")
    lines += ["", "Targets: measure/plain ≤ 1.20 for the MLP (1.01 ResNet-18, 1.05 Transformer); the paper "
              "way's overhead ≥ 2× ours.", "",
              "## 2. Memory-traffic floor (metrics kernel alone vs three plain reductions over G, w, w*)", "",
              "| N (float32) | metrics ms | floor ms | metrics / floor |", "|---|---|---|---|"]
    for r in metrics_floor.run():
        lines.append(f"| {r['n']:,} | {r['metrics_ms']:.2f} | {r['floor_ms']:.2f} | {r['ratio']:.1f} |")
    lines += ["", "Target: metrics / floor ≤ 2.", "", "## 3. Pipeline scale", ""]
    p = pipeline_scale.run()
    lines += [f"- `snakemake -n` on a generated 1,000-run study: {p['dry_run_1000_s']:.1f} s (target ≤ 15 s)",
              f"- no-op rerun of the default study: {p['noop_rerun_s']:.1f} s (target ≤ 3 s)",
              "- per-job cost of the Snakemake layer (median wall time of each rule's jobs in the default "
              "study, and the bare imports each job pays):"]
    lines += [f"  - {name}: {seconds:.2f} s" for name, seconds in p["jobs_s"].items()]
    out = Path(__file__).resolve().parent / "RESULTS.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
