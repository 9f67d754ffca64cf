"""The cost of per-block geometry (measure.per_block) on CPU: a replay step of the CIFAR ResNet-18 measured as a
whole, and measured as a whole and per parameter block, side by side in one process.

Both variants run the same training loop with a GeometryRecorder; the per-block one runs the backend on each
module's slice of the flat buffers (geometry/blocks.py). Epochs interleave so that drift in machine speed hits
both alike; each figure is the median over epochs of the mean step time within the epoch, and the recorder's
own time per step is added up inside its calls (CPU work is synchronous). Goal (issue 25): per_block/plain
≤ 1.03 on CPU for ResNet-18.

    python bench/per_block.py
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import standin_data
import torch
from step_overhead import _settings, _Timed

from nowrongturns.geometry.blocks import parameter_blocks
from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.train.engine import Trainer

RESNET18 = {"dataset": "cifar10", "model": "cifar_resnet18", "batch_size": 128, "optimizer": "momentum", "lr": 0.01,
            "weight_decay": 1e-6, "threads": 2}


def measure(warmup: int = 1, epochs: int = 3, images: int = 640, device: str = "cpu") -> dict:
    """On a GPU (bench/gpu.py, section 5) the recorder's calls only queue kernels: there the step ratio is
    the figure, and the timed recorder figures count launch time only."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = standin_data.write_cifar10(Path(tmp) / "data", train_images=images)
        settings = {**RESNET18, "device": device}
        if device != "cpu":
            settings.pop("threads")
        s = _settings(settings, warmup + epochs, data_dir)
        trainers = {name: Trainer(s, "bench") for name in ("plain", "per_block")}
        spe = trainers["plain"].steps_per_epoch
        blocks = parameter_blocks(trainers["per_block"].model)
        recorders = {name: _Timed(GeometryRecorder(t.flat, t.flat.data.detach().clone() + 1e-3, spe, s["weight_decay"],
                                                   blocks=blocks if name == "per_block" else None))
                     for name, t in trainers.items()}
        step_s = {name: [] for name in trainers}
        recorder_s = {name: 0.0 for name in trainers}
        for epoch in range(warmup + epochs):
            for name, trainer in trainers.items():
                rec = recorders[name]
                rec.seconds = 0.0
                t0 = time.perf_counter()
                trainer.run_epoch(rec, first_row=0)
                rec.recorder.sums()  # the host read of a segment; here once an epoch, the worst case
                if trainer.device.type == "cuda":
                    torch.cuda.synchronize(trainer.device)
                if epoch >= warmup:
                    step_s[name].append((time.perf_counter() - t0) / spe)
                    recorder_s[name] += rec.seconds
    med = {name: statistics.median(t) for name, t in step_s.items()}
    per_step = {name: recorder_s[name] / (epochs * spe) for name in trainers}
    return {"blocks": len(blocks), "steps_timed": epochs * spe, "plain step ms": 1e3 * med["plain"],
            "recorder ms/step, plain": 1e3 * per_step["plain"], "recorder ms/step, per_block": 1e3 * per_step["per_block"],
            "per_block/plain (step)": med["per_block"] / med["plain"],
            "timed: 1 + (per_block − plain recorder) / plain step": 1 + (per_step["per_block"] - per_step["plain"])
            / med["plain"]}


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
