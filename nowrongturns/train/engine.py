"""The one training loop that both the reference pass and the replay run.

Sharing it is what makes the replay exact: the measurement only reads w and G
between backward() and the optimizer step and writes nothing the step uses.
"""
from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import replace

import numpy as np
import torch

from nowrongturns.config.registry import build_task
from nowrongturns.config.settings import RunSettings
from nowrongturns.parallel import distributed
from nowrongturns.parallel.device import device_name, resolve_device
from nowrongturns.tasks.base import plan_to_device
from nowrongturns.tasks.seeding import derive_seed
from nowrongturns.train.checkpoints import state_weights
from nowrongturns.train.flat import FlatParams
from nowrongturns.train.lolr_schedule import with_schedule
from nowrongturns.train.optim import build_optimizer, check_schedule, lr_at, weight_decay_at
from nowrongturns.train.precision import training_forward, weight_dtype
from nowrongturns.train.pretrained import start_from
from nowrongturns.train.replay_guard import check_replayable

log = logging.getLogger("nowrongturns")


class Diverged(RuntimeError):
    """The loss (or the weights) became NaN or infinite."""


class Trainer:
    def __init__(self, settings: RunSettings | dict, run_id: str = ""):
        run = with_schedule(RunSettings.of(settings))  # a lolr schedule reads its source's loLR once, here
        self.settings, self.run_id = run, run_id
        self.group = distributed.group()
        if run.world_size != self.group.world_size:
            raise RuntimeError(f"run {run_id}: run setting world_size = {run.world_size}, but this "
                               f"process is one of {self.group.world_size} ranks (Snakemake and the nowrongturns "
                               f"command start as many ranks as the run's world_size)")
        # The thread count changes float summation order, so it is part of the run.
        torch.set_num_threads(run.threads)
        self.device = resolve_device(run.device, run.gpu_kernels)
        self.dtype = weight_dtype(run.precision)
        self.task = build_task(run, self.device, self.dtype)
        self.model = self.task.model
        if run.init_from is not None:  # a pretrained start replaces the seeded weights it names
            start_from(self.model, run.init_from, run.init_prefix_map, run.init_digest)
        self.model.train()
        self.flat = FlatParams(self.model)
        # Built after the re-seating, so its state refers to the flat views.
        self.optimizer = build_optimizer(self.flat.params, run)
        self.steps_per_epoch = self.task.steps_per_epoch
        check_schedule(run, self.steps_per_epoch)
        self.epoch = 0  # the next epoch to run
        self.history: list[dict] = []
        self.uses_dropout = any(isinstance(m, torch.nn.Dropout) for m in self.model.modules())
        self.rank_key = (self.group.rank,) if self.group.active else ()
        self.guarded = False  # the replay guard runs before the first epoch this trainer runs

    @property
    def total_steps(self) -> int:
        return self.settings.epochs * self.steps_per_epoch

    # -- state -------------------------------------------------------------------------------
    def param_names(self) -> list[str]:
        return [n for n, p in self.model.named_parameters() if p.requires_grad]

    def state(self) -> dict:
        """Everything needed to resume bit for bit."""
        rng = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "run_id": self.run_id,
            "settings": self.settings.to_dict(),  # plain values: a checkpoint names no class of this package
            "torch_version": torch.__version__,
            "device": self.device.type,  # a replay under device: auto follows the reference
            "epoch": self.epoch,
            "param_names": self.param_names(),  # the order of the flat w, for readers without a model
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": {"step": self.epoch * self.steps_per_epoch},
            "rng": rng,
            "history": list(self.history),
        }

    def load_state(self, state: dict) -> None:
        # load_state_dict copies into the existing tensors, so the flat views survive.
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = state["epoch"]
        self.history = list(state["history"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.flat.check_seated()

    def reseed(self, seed: int) -> None:
        """From the next epoch on, draw data order, augmentation and dropout from `seed` (a fork)."""
        # RunSettings is frozen: the fork gets a copy with its seed, and the task is pointed at that copy, so that
        # its draws (data order, augmentation) and the trainer's (dropout) both follow the new seed.
        self.settings = replace(self.settings, seed=seed)
        self.task.settings, self.task.seed = self.settings, seed

    def weights_from_state(self, state: dict) -> torch.Tensor:
        """The flat w of a checkpoint, in the same order as the live flat buffer."""
        return state_weights(state).to(self.device)

    # -- training ----------------------------------------------------------------------------
    def run_epoch(self, recorder=None, first_row: int = 0) -> list[float]:
        """One epoch; returns the minibatch losses (read from the device once, at the end)."""
        if not self.guarded:
            self.guarded = True
            # A plug-in's first steps, twice from one state: where they differ, the replay could not be exact.
            exact = self.device.type == "cpu" or self.settings.gpu_kernels == "deterministic"
            if self.settings.dataset == "plugin" and exact:
                check_replayable(self)
        plan = self.plan(self.epoch)
        # Each rank's loss is the mean over its slice of the batch: their mean is the minibatch loss.
        values = distributed.average_(self.run_steps(plan, recorder, first_row)).cpu().tolist()
        if recorder is not None:
            recorder.record_losses(first_row, values)
        self._check_finite(values)
        self.epoch += 1
        return values

    def run_steps(self, plan, recorder=None, first_row: int = 0) -> torch.Tensor:
        """The steps of epoch self.epoch with the task's plan for it; returns the losses on the device.
        Nothing here waits for the device (tests/test_host_sync.py): the host queues steps ahead."""
        epoch, steps_per_epoch, settings = self.epoch, self.steps_per_epoch, self.settings
        losses = torch.empty(steps_per_epoch, dtype=torch.float64, device=self.device)
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            weight_decay = weight_decay_at(settings, step, steps_per_epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(settings, step, steps_per_epoch)
                group["weight_decay"] = weight_decay
            loss = self.gradient(plan, i, epoch)
            if self.group.active:  # the ranks' mean gradient: one all-reduce in a fixed layout (distributed.py)
                distributed.average_(self.flat.grad)
            if recorder is not None:
                recorder.before_step(first_row + i, weight_decay)
            if settings.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.flat.params, settings.grad_clip, foreach=True)
            self.optimizer.step()
            if recorder is not None:
                recorder.after_step(first_row + i)
            losses[i] = loss.detach()
        return losses

    def plan(self, epoch: int):
        """The task's plan for the epoch, its tensors on the device."""
        return plan_to_device(self.task.plan(epoch), self.device)

    def gradient(self, plan, i: int, epoch: int) -> torch.Tensor:
        """This rank's loss of step i of the epoch, its gradient left in self.flat.grad."""
        if self.uses_dropout:  # each rank its own masks (one rank: the keys runs always had)
            torch.manual_seed(derive_seed("dropout", self.settings.seed, epoch, i, *self.rank_key))
        self.flat.zero_grad()
        with self.training_precision():
            loss = self.task.loss(plan, i, epoch)
        loss.backward()
        return loss

    def training_precision(self):
        """The context of a training forward pass: bfloat16 autocast under precision bf16 (the weights, their
        gradients and the optimizer stay float32), else nothing."""
        return training_forward(self.device, self.settings.precision)

    def _check_finite(self, losses: list[float]) -> None:
        for i, value in enumerate(losses):
            if not math.isfinite(value):
                step = self.epoch * self.steps_per_epoch + i
                raise Diverged(
                    f"run {self.run_id}: diverged at epoch {self.epoch} step {step} "
                    f"(step {i} of the epoch): loss = {value}"
                )
        if not bool(torch.isfinite(self.flat.data).all()):
            step = (self.epoch + 1) * self.steps_per_epoch - 1
            raise Diverged(f"run {self.run_id}: diverged at epoch {self.epoch} step {step}: weights not finite")

    def train(self, end_epoch: int, recorder=None, evaluate: bool = False, on_epoch_end=None) -> None:
        """Run epochs self.epoch..end_epoch-1, logging progress once per epoch."""
        start_epoch = self.epoch
        t0 = time.perf_counter()
        while self.epoch < end_epoch:
            epoch = self.epoch
            losses = self.run_epoch(recorder, first_row=(epoch - start_epoch) * self.steps_per_epoch)
            record = {"epoch": epoch, "train_loss": float(np.mean(losses)),
                      "lr": lr_at(self.settings, (epoch + 1) * self.steps_per_epoch - 1, self.steps_per_epoch)}
            if evaluate and self.group.is_main:  # rank 0's buffers are the run's (distributed.py)
                record.update(self.task.evaluate())
            self.history.append(record)
            done = self.epoch - start_epoch
            elapsed = time.perf_counter() - t0
            rate = done * self.steps_per_epoch / elapsed if elapsed > 0 else float("inf")
            eta = (end_epoch - self.epoch) * self.steps_per_epoch / rate if rate else float("nan")
            extra = " ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch", "train_loss", "lr"))
            log.info(
                "epoch %d/%d step %d/%d loss %.4g %s| %.1f steps/s eta %.1fs | device %s",
                epoch + 1, self.settings.epochs, self.epoch * self.steps_per_epoch, self.total_steps,
                record["train_loss"], extra + " " if extra else "", rate, eta, device_name(self.device),
            )
            if on_epoch_end is not None:
                on_epoch_end(self)
