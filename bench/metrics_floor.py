"""Memory-traffic floor: the per-step metrics against one pass that reads G, w and w* once.

The metrics must read G, w and w* at least once per step, so three reads of N float32 values are
the floor. This times one step of GeometryRecorder (before_step + after_step, no training, in the
steady state of a replay: the CPU kernel measures each step's update in the next step's pass) on
flat vectors of N float32 values and, side by side in the same process, three plain reductions
that read three such vectors once each.
"""
from __future__ import annotations

import statistics
import time

import torch

from nowrongturns.geometry.recorder import GeometryRecorder


class _Flat:
    """Stands in for FlatParams: just the two flat buffers the recorder reads."""

    def __init__(self, n: int, device="cpu"):
        gen = torch.Generator().manual_seed(0)
        self.data = torch.randn(n, generator=gen).to(device)
        self.grad = torch.randn(n, generator=gen).to(device)


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up (and the kernel's compile, if it is not cached yet)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(n: int, repeats: int) -> dict:
    flat = _Flat(n)
    w_star = flat.data + 1e-3 * torch.randn(n, generator=torch.Generator().manual_seed(1))
    recorder = GeometryRecorder(flat, w_star, repeats + 3)  # never reaches its last row
    step = iter(range(repeats + 2))

    def metrics():
        k = next(step)
        recorder.before_step(k)  # the optimizer step would come here; it is not timed
        recorder.after_step(k)

    a, b, c = flat.grad, flat.data, w_star

    def floor():
        return a.sum() + b.sum() + c.sum()

    t_metrics = _median_seconds(metrics, repeats)
    t_floor = _median_seconds(floor, repeats)
    return {"n": n, "metrics_ms": 1e3 * t_metrics, "floor_ms": 1e3 * t_floor, "ratio": t_metrics / t_floor}


def run(sizes=(1_000_000, 10_000_000, 100_000_000), repeats: int = 20) -> list[dict]:
    torch.set_num_threads(1)
    return [measure(n, repeats if n < 50_000_000 else max(5, repeats // 4)) for n in sizes]


if __name__ == "__main__":
    for row in run():
        print(row)
