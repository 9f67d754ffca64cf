"""What measuring costs per replay step at world size 1 and 2 (gloo ranks on CPU, one thread each).

Each rank trains the digits MLP below for whole epochs with the geometry recorder over its slice of the
weights (distributed.shard); the time spent in the recorder's calls is the measuring cost (the step times
around it vary by more than that under gloo). The per-step sums stay with the rank and are summed over
the ranks once, at the end (GeometryRecorder.combine, timed too); the alternative, one small all-reduce
of the step's sums every step, is timed on its own for comparison.

    python bench/ddp_step_cost.py           # about a minute on 2 cores
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import torch

WIDTH, DEPTH, BATCH, REPEATS = 1024, 3, 64, 5


def _settings(ranks):
    from nowrongturns.config import run_defaults

    return {**run_defaults(), "dataset": "digits", "model": "mlp", "width": WIDTH, "depth": DEPTH, "batch_size": BATCH,
            "optimizer": "momentum", "lr": 0.01, "epochs": 100, "world_size": ranks, "threads": 1, "device": "cpu"}


def _rank(ranks):
    from nowrongturns.geometry.recorder import GeometryRecorder
    from nowrongturns.parallel import distributed
    from nowrongturns.train.engine import Trainer

    trainer = Trainer(_settings(ranks), "bench")
    spe, part = trainer.steps_per_epoch, distributed.shard(trainer.flat.numel)
    w_star = (trainer.flat.data + 0.01 * torch.randn(trainer.flat.numel, generator=torch.Generator().manual_seed(0)))
    mine, star = trainer.flat.shard(part), w_star[part].clone()

    inside = {"record": 0.0, "combine": 0.0}

    class Timed:  # the recorder, its calls timed
        def __init__(self, recorder):
            self.recorder = recorder

        def before_step(self, k, weight_decay=None):
            t0 = time.perf_counter()
            self.recorder.before_step(k, weight_decay)
            inside["record"] += time.perf_counter() - t0

        def after_step(self, k):
            t0 = time.perf_counter()
            self.recorder.after_step(k)
            inside["record"] += time.perf_counter() - t0

        def record_losses(self, first_row, values):
            self.recorder.record_losses(first_row, values)

    def measured_epoch():
        recorder = GeometryRecorder(mine, [star], spe,
                                    combine=lambda a: distributed.sum_over_ranks(a, torch.device("cpu")))
        trainer.run_epoch(Timed(recorder))
        t0 = time.perf_counter()
        recorder.sums()  # the one combination over the ranks
        inside["combine"] += time.perf_counter() - t0

    def small_all_reduces():  # the alternative: the step's sums (7 numbers here) all-reduced every step
        sums = torch.zeros(7, dtype=torch.float64)
        for _ in range(spe):
            distributed.average_(sums)

    measured_epoch()  # compiles the kernels
    timings = {"plain": [], "measured": [], "all_reduce": [], "record": [], "combine": []}
    for _ in range(REPEATS):
        for name, fn in (("plain", trainer.run_epoch), ("measured", measured_epoch), ("all_reduce", small_all_reduces)):
            inside.update(record=0.0, combine=0.0)
            distributed.barrier()
            t0 = time.perf_counter()
            fn()
            timings[name].append((time.perf_counter() - t0) / spe)
            if name == "measured":
                timings["record"].append(inside["record"] / spe)
                timings["combine"].append(inside["combine"] / spe)
    return {k: statistics.median(v) for k, v in timings.items()} | {"n": trainer.flat.numel, "spe": spe}


def main():
    torch.set_num_threads(1)
    from nowrongturns.parallel.distributed import run_local

    one, two = run_local(_rank, 1, 1), run_local(_rank, 2, 2)
    # A step waits for its slowest rank: the measuring cost of world size 2 is its larger rank's.
    cost = {1: one[0]["record"] + one[0]["combine"], 2: max(t["record"] + t["combine"] for t in two.values())}
    print(f"digits MLP width {WIDTH} depth {DEPTH}: {one[0]['n']:,} weights, batch {BATCH}, {one[0]['spe']} steps per "
          f"epoch; median of {REPEATS} epochs, gloo on CPU, 1 thread per rank")
    for ranks, ts in ((1, one), (2, two)):
        for rank, t in sorted(ts.items()):
            print(f"  world size {ranks} rank {rank}: step {t['plain'] * 1e3:.2f} ms unmeasured, "
                  f"{t['measured'] * 1e3:.2f} ms measured; in the recorder {t['record'] * 1e3:.3f} ms per step, "
                  f"combining once per epoch {t['combine'] * 1e3:.4f} ms per step")
    print(f"  measuring cost per step, world size 2 / world size 1: {cost[2] / cost[1]:.2f}")
    print(f"  one small all-reduce per step (world size 2): {two[0]['all_reduce'] * 1e3:.3f} ms = "
          f"{two[0]['all_reduce'] / cost[2]:.2f} x the measuring cost; so the sums are combined once per segment")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    main()
