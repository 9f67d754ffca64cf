"""Per-step cost of measuring, side by side in one process: a plain PyTorch training step, our
reference-pass step (with a checkpoint per epoch spread over its steps), our measurement step,
and a measurement done the way the paper's public code does it (concatenate all weights and
gradients into new vectors every step, read each value to the host, concatenate again after
the step for the update).

Variants run in interleaved epochs so that drift in machine speed hits all of them alike;
each figure is the median over epochs of the mean step time within the epoch.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from nowrongturns.config import run_defaults
from nowrongturns.engine import Trainer
from nowrongturns.geometry import GeometryRecorder
from nowrongturns.reference import save_checkpoint

DIGITS_MLP = {"model": "mlp", "width": 64, "depth": 2, "optimizer": "momentum", "lr": 0.05, "batch_size": 64}


def _settings(overrides: dict, epochs: int) -> dict:
    s = run_defaults()
    s.update(overrides, epochs=epochs)
    return s


def _plain_epoch(trainer: Trainer, epoch: int, paper_way: bool) -> None:
    """The same model, data and optimizer as `trainer`, stepped the ordinary PyTorch way."""
    model, opt, task = trainer.model, trainer.optimizer, trainer.task
    params = [p for p in model.parameters() if p.requires_grad]
    plan = task.plan(epoch)
    w_star = trainer.flat.data.detach().clone()
    for i in range(trainer.steps_per_epoch):
        opt.zero_grad(set_to_none=False)  # keep the grads in the flat buffer the trainer owns
        loss = task.loss(plan, i, epoch)
        loss.backward()
        if paper_way:
            w = torch.cat([p.detach().reshape(-1) for p in params])
            g = torch.cat([p.grad.reshape(-1) for p in params])
            d = w - w_star
            _ = (torch.norm(d).item(), torch.norm(g).item(), torch.dot(g, d).item())
        opt.step()
        if paper_way:
            u = torch.cat([p.detach().reshape(-1) for p in params]) - w
            _ = (torch.norm(u).item(), torch.dot(u, d).item())
        loss.item() if paper_way else None


def measure(overrides: dict, epochs: int = 12, warmup: int = 2) -> dict:
    torch.set_num_threads(1)
    s = _settings(overrides, warmup + epochs)
    variants = {name: Trainer(s, "bench") for name in ("plain", "reference", "measure", "paper")}
    spe = variants["plain"].steps_per_epoch
    w_star = variants["measure"].flat.data.detach().clone() + 1e-3
    recorder = GeometryRecorder(variants["measure"].flat, w_star, spe, s["weight_decay"])
    times = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "epoch.pt"
        for epoch in range(warmup + epochs):
            for name, trainer in variants.items():
                t0 = time.perf_counter()
                if name == "plain":
                    _plain_epoch(trainer, epoch, paper_way=False)
                elif name == "paper":
                    _plain_epoch(trainer, epoch, paper_way=True)
                elif name == "reference":
                    trainer.run_epoch()
                    save_checkpoint(trainer, ckpt)  # a checkpoint every epoch: the worst case
                else:
                    trainer.run_epoch(recorder, first_row=0)
                    recorder.sums()  # one host read per segment; here per epoch, the worst case
                if epoch >= warmup:
                    times[name].append((time.perf_counter() - t0) / spe)
    med = {name: statistics.median(t) for name, t in times.items()}
    return {
        "steps_timed": epochs * spe,
        "plain_ms": 1e3 * med["plain"],
        "reference_ms": 1e3 * med["reference"],
        "measure_ms": 1e3 * med["measure"],
        "paper_ms": 1e3 * med["paper"],
        "reference/plain": med["reference"] / med["plain"],
        "measure/plain": med["measure"] / med["plain"],
        "paper/plain": med["paper"] / med["plain"],
        "paper overhead / ours": (med["paper"] - med["plain"]) / max(med["measure"] - med["plain"], 1e-12),
    }


def run() -> dict:
    return {"digits MLP (64-64-10, batch 64)": measure(DIGITS_MLP)}


if __name__ == "__main__":
    print(run())
