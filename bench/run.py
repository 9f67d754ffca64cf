"""Run every CPU benchmark and write bench/RESULTS.md (one command: `python bench/run.py`, ~40 min on
2 cores). The GPU checks are bench/gpu.py, for a machine with a CUDA device.

Figures are ratios measured side by side in one process (or one run of processes), not absolute
timings to compare across machines. Not part of the test suite: timed tests are flaky on shared
machines.
"""
from __future__ import annotations

import datetime
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import memory
import metrics_floor
import parallel_segments
import pipeline_scale
import step_overhead


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _flag(ok: bool) -> str:
    return "met" if ok else "**missed**"


TARGETS = {"digits MLP": 1.20, "Transformer": 1.05, "ResNet-18": 1.01}


def step_section() -> list[str]:
    lines = ["## 1. Step overhead (CPU; variants interleaved epoch by epoch in one process)", "",
             ("Whole steps: medians over epochs of the mean step time. Measuring code alone: the time inside "
             "our recorder's calls and inside the paper way's concatenations, norms and reads, added up over "
             "the same steps (on CPU that work is synchronous, so this is its exact cost, free of the "
             "step-to-step noise of training)."), "",
             ("| model | steps per variant | plain ms | reference/plain | measure/plain | paper way/plain "
             "| ours ms/step | paper way ms/step | 1 + ours/plain (target) | paper way / ours (target ≥ 2) |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for model, r in step_overhead.run().items():
        target = next(t for key, t in TARGETS.items() if key in model)
        ours, ratio = r["timed: 1 + ours / plain"], r["timed: paper / ours"]
        lines.append(f"| {model} | {r['steps_timed']} | {r['plain_ms']:.2f} | {r['reference/plain']:.3f} "
                     f"| {r['measure/plain']:.3f} | {r['paper/plain']:.3f} | {r['ours_ms']:.3f} | {r['paper_ms']:.3f} "
                     f"| {ours:.4f} (≤ {target}: {_flag(ours <= target)}) | {ratio:.1f} ({_flag(ratio >= 2)}) |")
    lines += ["", ("reference = our training loop plus one checkpoint per epoch of the real data set "
              "(22, 2,983 and 312 steps), its cost spread over that epoch's steps. Threads: 1, "
              "except ResNet-18 (2; the recorder's kernel uses one).")]
    return lines


def memory_section() -> list[str]:
    m = memory.run()
    return ["", "## 2. Peak memory (CPU, peak RSS of one epoch in a fresh process)", "",
            (f"{m['model']}, {m['params_mb']:.1f} MiB of weights: plain {m['plain_mb']:.0f} MiB, "
            f"measure {m['measure_mb']:.0f} MiB ({m['ratio']:.2f}×). Of the difference, {m['compiler_mb']:.0f} MiB "
            f"is Numba's compiler (fixed, CPU only) and the rest {m['extra_in_params']:.1f}× the weights: "
            "w* and the recorder's copy of w_t (2×), the rest allocator slack. The optimizer state and the model "
            "are the training's own.")]


def floor_section() -> list[str]:
    lines = ["", ("## 3. Memory-traffic floor (one step of the metrics alone vs three plain reductions over "
             "G, w, w*)"), "", "| N (float32) | metrics ms | floor ms | metrics / floor (target ≤ 2) |",
             "|---|---|---|---|"]
    for r in metrics_floor.run():
        lines.append(f"| {r['n']:,} | {r['metrics_ms']:.2f} | {r['floor_ms']:.2f} "
                     f"| {r['ratio']:.2f} ({_flag(r['ratio'] <= 2)}) |")
    return lines


def pipeline_section() -> list[str]:
    p = pipeline_scale.run()
    par = parallel_segments.run()
    lines = ["", "## 4. Pipeline scale", "",
             (f"- `snakemake -n` on a generated 1,000-run study (4,000 jobs): {p['dry_run_1000_s']:.1f} s "
             f"(target ≤ 15 s: {_flag(p['dry_run_1000_s'] <= 15)})"),
             (f"- no-op rerun of the default study: {p['noop_rerun_s']:.1f} s "
             f"(target ≤ 3 s: {_flag(p['noop_rerun_s'] <= 3)})"),
             ("- per-job cost of the Snakemake layer (median wall time of each rule's jobs in the default study, "
             "and the bare imports a job pays):")]
    lines += [f"  - {name}: {seconds:.2f} s" for name, seconds in p["jobs_s"].items()]
    lines += ["", "## 5. Parallel measurement", "",
              (f"One run's replay (the digits CNN, 160 epochs): 1 segment {par['one_segment_s']:.1f} s, "
              f"2 segments side by side on 2 cores {par['two_segments_s']:.1f} s: {par['ratio']:.2f}× "
              f"(target ≤ 0.6: {_flag(par['ratio'] <= 0.6)}). Each segment is a fresh process, as a job is.")]
    return lines


def main() -> None:
    lines = ["# Benchmarks", "",
             f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
             f"- machine: {_cpu()}, {torch.get_num_threads()} cores, no GPU",
             f"- torch {torch.__version__}, Python {platform.python_version()}", ""]
    print("\n".join(lines), flush=True)
    for section in (step_section, memory_section, floor_section, pipeline_section):
        new = section()
        print("\n".join(new), flush=True)
        lines += new
    out = Path(__file__).resolve().parent / "RESULTS.md"
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
