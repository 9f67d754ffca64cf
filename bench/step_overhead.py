"""Per-step cost of measuring, side by side in one process: a plain PyTorch training step, our
reference-pass step (its checkpoint cost spread over the real data set's epoch), our measurement
step, and a measurement done the way the paper's public code does it (concatenate all weights and
gradients into new vectors every step, read each value to the host, concatenate again after the
step for the update).

Variants run in interleaved epochs so that drift in machine speed hits all of them alike; each
figure is the median over epochs of the mean step time within the epoch. The paper's data sets
are stood in for by files in their real formats (standin_data.py), sized to a few steps an epoch.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import standin_data
import torch

from nowrongturns.config import run_defaults
from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.train.checkpoints import save_checkpoint
from nowrongturns.train.engine import Trainer

# name: (settings, data writer or None, warm-up epochs, timed epochs, steps of the real data set's epoch)
MODELS = {
    "digits MLP (64-64-10, batch 64)": (
        {"model": "mlp", "width": 64, "depth": 2, "optimizer": "momentum", "lr": 0.05, "batch_size": 64},
        None, 2, 12, None),
    # WikiText-2: 2,088,628 training tokens / (20 × 35) = 2,983 steps an epoch.
    "Transformer LM (emsize 128, 2 layers, bptt 35, batch 20)": (
        {"dataset": "wikitext2", "model": "transformer_lm", "emsize": 128, "nhead": 4, "nhid": 128, "nlayers": 2,
         "bptt": 35, "dropout": 0.2, "batch_size": 20, "optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-5,
         "grad_clip": 0.25},
        lambda root: standin_data.write_wikitext2(root, train_tokens=14_000), 1, 10, 2983),
    # CIFAR-10: 40,000 training images (the paper's 80% split) / 128 = 312 steps an epoch. Two threads:
    # one ResNet-18 step takes seconds on one core.
    "CIFAR ResNet-18 (batch 128, 2 threads)": (
        {"dataset": "cifar10", "model": "cifar_resnet18", "batch_size": 128, "optimizer": "momentum", "lr": 0.01,
         "weight_decay": 1e-6, "threads": 2},
        lambda root: standin_data.write_cifar10(root, train_images=1600), 1, 5, 312),
    # A timm model on an image folder (the timm extra), small input for a CPU. 50,000 images / 32 = 1,562 steps
    # an epoch.
    "timm ResNet-50 (image folder, 64x64 crops, batch 32, 2 threads)": (
        {"dataset": "image_folder", "model": "timm:resnet50", "image_size": 64, "augment": True, "batch_size": 32,
         "optimizer": "momentum", "lr": 0.01, "weight_decay": 5e-5, "threads": 2},
        lambda root: standin_data.write_image_folder(root, classes=10, per_class=16, size=80), 1, 5, 1562),
    # A transformers model on text (the hf extra), WikiText-2's vocabulary: 2,088,628 tokens / (20 x 128) = 815
    # steps an epoch.
    "transformers GPT-2 (2 layers, width 128, block 128, batch 20)": (
        {"dataset": "text", "model": "hf:gpt2", "model_args": {"n_layer": 2, "n_embd": 128, "n_head": 4,
                                                               "n_positions": 128},
         "block_size": 128, "batch_size": 20, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.1},
        lambda root: standin_data.write_wikitext2(root, train_tokens=14_000), 1, 5, 815),
}


def _settings(overrides: dict, epochs: int, data_dir) -> dict:
    s = run_defaults()
    s.update(overrides, epochs=epochs)
    if data_dir is not None:
        s["data_dir"] = str(data_dir)
    return s


class _Timed:
    """The recorder, with the time spent in its calls added up: on CPU the work is synchronous, so this
    is the measurement's own cost per step, free of the step-to-step noise of training."""

    def __init__(self, recorder):
        self.recorder, self.seconds = recorder, 0.0

    def _timed(self, fn, *args):
        t0 = time.perf_counter()
        fn(*args)
        self.seconds += time.perf_counter() - t0

    def before_step(self, *args):
        self._timed(self.recorder.before_step, *args)

    def after_step(self, *args):
        self._timed(self.recorder.after_step, *args)

    def record_losses(self, *args):
        self._timed(self.recorder.record_losses, *args)


def _plain_epoch(trainer: Trainer, epoch: int, paper_way: bool) -> float:
    """The same model, data and optimizer as `trainer`, stepped the ordinary PyTorch way; returns the
    seconds spent measuring the paper's way (0 for plain)."""
    model, opt, task, clip = trainer.model, trainer.optimizer, trainer.task, trainer.settings.grad_clip
    params = [p for p in model.parameters() if p.requires_grad]
    plan = task.plan(epoch)
    w_star = trainer.flat.data.detach().clone()
    spent = 0.0
    for i in range(trainer.steps_per_epoch):
        opt.zero_grad(set_to_none=False)  # keep the grads in the flat buffer the trainer owns
        loss = task.loss(plan, i, epoch)
        loss.backward()
        if paper_way:
            t0 = time.perf_counter()
            w = torch.cat([p.detach().reshape(-1) for p in params])
            g = torch.cat([p.grad.reshape(-1) for p in params])
            d = w - w_star
            _ = (torch.norm(d).item(), torch.norm(g).item(), torch.dot(g, d).item())
            spent += time.perf_counter() - t0
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
        opt.step()
        if paper_way:
            t0 = time.perf_counter()
            u = torch.cat([p.detach().reshape(-1) for p in params]) - w
            _ = (torch.norm(u).item(), torch.dot(u, d).item(), loss.item())
            spent += time.perf_counter() - t0
    return spent


def _sync(trainer: Trainer) -> None:
    if trainer.device.type == "cuda":  # GPU work is asynchronous: time it to its end
        torch.cuda.synchronize(trainer.device)


def measure(overrides: dict, write_data=None, warmup: int = 2, epochs: int = 12, real_spe: int | None = None,
            device: str = "cpu", prepare=None) -> dict:
    """prepare(trainer), if given, adapts each variant's trainer before the first epoch (bench/gpu.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = write_data(Path(tmp) / "data") if write_data else None
        s = _settings({**overrides, "device": device}, warmup + epochs, data_dir)
        variants = {name: Trainer(s, "bench") for name in ("plain", "reference", "measure", "paper")}
        for trainer in variants.values() if prepare else ():
            prepare(trainer)
        spe = variants["plain"].steps_per_epoch
        w_star = variants["measure"].flat.data.detach().clone() + 1e-3
        recorder = _Timed(GeometryRecorder(variants["measure"].flat, w_star, spe, s["weight_decay"]))
        times = {name: [] for name in variants}
        spent = {"measure": 0.0, "paper": 0.0}  # seconds inside the measuring code, timed epochs only
        checkpoint_s = []
        ckpt = Path(tmp) / "epoch.pt"
        for epoch in range(warmup + epochs):
            for name, trainer in variants.items():
                t0 = time.perf_counter()
                recorder.seconds = paper_s = 0.0
                if name in ("plain", "paper"):
                    paper_s = _plain_epoch(trainer, epoch, paper_way=name == "paper")
                elif name == "reference":
                    trainer.run_epoch()
                else:
                    trainer.run_epoch(recorder, first_row=0)
                    recorder.recorder.sums()  # one host read per segment; here per epoch, the worst case
                _sync(trainer)
                if epoch >= warmup:
                    times[name].append((time.perf_counter() - t0) / spe)
                    if name in spent:
                        spent[name] += recorder.seconds if name == "measure" else paper_s
                if name == "reference":
                    t0 = time.perf_counter()
                    save_checkpoint(trainer, ckpt)
                    checkpoint_s.append(time.perf_counter() - t0)
    med = {name: statistics.median(t) for name, t in times.items()}
    med["reference"] += statistics.median(checkpoint_s) / (real_spe or spe)  # one checkpoint per real epoch
    ours, paper = (spent[name] / (epochs * spe) for name in ("measure", "paper"))
    return {
        "steps_timed": epochs * spe,
        "plain_ms": 1e3 * med["plain"],
        "checkpoint_ms": 1e3 * statistics.median(checkpoint_s),
        "reference/plain": med["reference"] / med["plain"],
        "measure/plain": med["measure"] / med["plain"],
        "paper/plain": med["paper"] / med["plain"],
        "paper overhead / ours": (med["paper"] - med["plain"]) / max(med["measure"] - med["plain"], 1e-12),
        # The measuring code alone, timed inside the steps (CPU: synchronous).
        "ours_ms": 1e3 * ours,
        "paper_ms": 1e3 * paper,
        "timed: paper / ours": paper / ours,
        "timed: 1 + ours / plain": 1 + ours / med["plain"],
    }


def run(models=None, device: str = "cpu") -> dict:
    return {name: measure(*spec, device=device) for name, spec in MODELS.items() if models is None or name in models}


if __name__ == "__main__":
    for name, row in run().items():
        print(name, row)
