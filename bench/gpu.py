"""The GPU checks, as one script for a machine with a CUDA device: `python bench/gpu.py [OUT.md]`.

1. CIFAR ResNet-18 (batch 128) training-epoch time with the device-resident data path (the images
   held on the GPU as one uint8 tensor, cropped there) against a plain PyTorch DataLoader loop
   (data_path: loader, 4 workers) on the same card.
2. The measurement overhead (step_overhead.py's four variants) on the card.
3. No host-device synchronization inside a step: torch.cuda.set_sync_debug_mode("warn") over a
   measured epoch of 80 steps; the count must be the few per-epoch reads, not one or more per step.
4. The cost of deterministic execution: epoch time under gpu_kernels deterministic and fast.
5. Peak GPU memory of a measurement epoch against a plain one.
Every figure is printed beside the card's name. `--device cpu --quick` runs the same code on the
CPU with tiny sizes (a smoke test of the script itself; its figures mean nothing).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import standin_data  # noqa: E402
import step_overhead  # noqa: E402

from nowrongturns.engine import Trainer  # noqa: E402
from nowrongturns.geometry import GeometryRecorder  # noqa: E402

RESNET = step_overhead.MODELS["CIFAR ResNet-18 (batch 128, 2 threads)"][0]


def _trainer(data_dir, device: str, **overrides) -> Trainer:
    s = step_overhead._settings({**RESNET, "device": device, **overrides}, 100, data_dir)
    return Trainer(s, "gpu-bench")


def _epoch_seconds(trainer: Trainer, epochs: int, recorder=None) -> float:
    """Median wall time of an epoch after one warm-up epoch."""
    times = []
    for i in range(epochs + 1):
        t0 = time.perf_counter()
        trainer.run_epoch(recorder, first_row=0)  # ends with one host read of the losses: synchronized
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _syncs_in_epoch(trainer: Trainer, recorder) -> int:
    torch.cuda.set_sync_debug_mode("warn") if trainer.device.type == "cuda" else None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.run_epoch(recorder, first_row=0)
    finally:
        torch.cuda.set_sync_debug_mode("default") if trainer.device.type == "cuda" else None
    return sum("synchroniz" in str(w.message) for w in caught)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=str(Path(__file__).resolve().parent / "GPU_RESULTS.md"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check that the script runs")
    args = ap.parse_args()
    dev = args.device
    card = torch.cuda.get_device_name() if dev == "cuda" else "CPU (smoke test, figures meaningless)"
    images, epochs = (320, 1) if args.quick else (12_800, 5)  # 12,800 × 80% / 128 = 80 steps an epoch
    lines = [f"# GPU benchmarks: {card}", "", f"torch {torch.__version__}, CUDA {torch.version.cuda}", ""]

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    with tempfile.TemporaryDirectory() as tmp:
        data = standin_data.write_cifar10(Path(tmp) / "cifar", train_images=images)
        # 1. Data path.
        device_path = _trainer(data, dev)
        loader_path = _trainer(data, dev, data_path="loader", num_workers=0 if args.quick else 4)
        t_dev, t_loader = _epoch_seconds(device_path, epochs), _epoch_seconds(loader_path, epochs)
        spe = device_path.steps_per_epoch
        say(f"1. ResNet-18 epoch ({spe} steps of 128) on {card}: device-resident data {t_dev:.3f} s, "
            f"DataLoader (4 workers) {t_loader:.3f} s: {t_loader / t_dev:.2f}x")
        # 4. Determinism cost (same data path).
        fast = _trainer(data, dev, gpu_kernels="fast")
        t_fast = _epoch_seconds(fast, epochs)
        say(f"4. gpu_kernels deterministic {t_dev:.3f} s vs fast {t_fast:.3f} s an epoch on {card}: "
            f"deterministic costs {t_dev / t_fast:.2f}x")
        # 3. Synchronizations, and 5. peak memory.
        measured = _trainer(data, dev)
        w_star = measured.flat.data.detach().clone()
        recorder = GeometryRecorder(measured.flat, w_star, spe, RESNET["weight_decay"])
        syncs = _syncs_in_epoch(measured, recorder)
        say(f"3. host-device synchronizations in a measured epoch of {spe} steps on {card}: {syncs} "
            f"(the per-epoch read of the losses and the finiteness check; none may come per step)")
        if dev == "cuda":
            peak = {}
            for name, rec in (("plain", None), ("measure", recorder)):
                torch.cuda.reset_peak_memory_stats()
                measured.run_epoch(rec, first_row=0)
                peak[name] = torch.cuda.max_memory_allocated() / 2**20
            params = measured.flat.numel * 4 / 2**20
            say(f"5. peak GPU memory on {card}: plain {peak['plain']:.0f} MiB, measure {peak['measure']:.0f} MiB "
                f"(+{(peak['measure'] - peak['plain']) / params:.1f}x the {params:.0f} MiB of weights)")
    # 2. Measurement overhead, all three models, interleaved as on CPU.
    for name, r in step_overhead.run(device=dev).items() if not args.quick else []:
        say(f"2. {name} on {card}: plain {r['plain_ms']:.2f} ms, measure/plain {r['measure/plain']:.3f}, "
            f"reference/plain {r['reference/plain']:.3f}, paper way/plain {r['paper/plain']:.3f}")
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
