"""A plug-in task: a small network on data it generates (three interleaved spirals in the plane).

Run it with examples/plugin.yaml. What makes it replayable: the data come from a generator seeded by
task_args alone, each epoch's order from self.generator(epoch), and nothing in the task changes as
training goes on (docs/own-model-and-data.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from nowrongturns.tasks import Task


@dataclass(frozen=True)
class SpiralsArgs:
    points: int = 600  # per class, split 5:1 into training and validation
    classes: int = 3
    noise: float = 0.2
    width: int = 32
    data_seed: int = 0  # the data set; the run's seed draws the weights and the order


class Spirals(Task):
    Args = SpiralsArgs

    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        a = self.args
        gen = torch.Generator().manual_seed(a.data_seed)  # used here only: the data are fixed by then
        r = torch.rand(a.classes, a.points, generator=gen, dtype=torch.float64)
        angle = 2 * math.pi * r + (2 * math.pi / a.classes) * torch.arange(a.classes, dtype=torch.float64)[:, None]
        x = torch.stack([r * angle.cos(), r * angle.sin()], -1) + a.noise * r[..., None] * torch.randn(
            a.classes, a.points, 2, generator=gen, dtype=torch.float64)
        y = torch.arange(a.classes).repeat_interleave(a.points)
        shuffle = torch.randperm(len(y), generator=gen)
        x, y = x.reshape(-1, 2)[shuffle].to(device, dtype), y[shuffle].to(device)
        n_val = len(y) // 6
        self.x_val, self.y_val, self.x_train, self.y_train = x[:n_val], y[:n_val], x[n_val:], y[n_val:]
        self.steps_per_epoch = len(self.y_train) // settings.batch_size
        self.seed_init()
        self.model = nn.Sequential(nn.Linear(2, a.width), nn.Tanh(), nn.Linear(a.width, a.width), nn.Tanh(),
                                   nn.Linear(a.width, a.classes)).to(device, dtype)

    def plan(self, epoch):
        return torch.randperm(len(self.y_train), generator=self.generator(epoch))  # moved to the device by the loop

    def loss(self, order, step, epoch):
        b = self.settings.batch_size
        idx = self.local(order[step * b:(step + 1) * b])
        return F.cross_entropy(self.model(self.x_train[idx]), self.y_train[idx])

    @torch.no_grad()
    def evaluate(self):
        logits = self.model(self.x_val)
        return {"val_loss": F.cross_entropy(logits, self.y_val).item(),
                "val_acc": (logits.argmax(1) == self.y_val).double().mean().item()}

    def full_batch_terms(self):
        yield F.cross_entropy(self.model(self.x_train), self.y_train, reduction="sum"), len(self.y_train)
