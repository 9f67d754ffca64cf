"""Three plug-in tasks that break exact replay, one per rule of the Task protocol; the replay guard
(nowrongturns/train/replay_guard.py) stops each at the start of its first pass, naming the attribute.
Do not copy them: they are here to show what the guard catches (tests/test_plugin_tasks.py).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nowrongturns.tasks import Task


class _Regression(Task):
    """Least squares on fixed random data: a correct task, until a subclass breaks it."""

    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(256, 8, generator=gen).to(device, dtype)
        self.y = self.x @ torch.randn(8, 1, generator=gen).to(device, dtype)
        self.steps_per_epoch = 256 // settings.batch_size
        self.seed_init()
        self.model = self.network().to(device, dtype)

    def network(self) -> nn.Module:
        return nn.Linear(8, 1)

    def plan(self, epoch):
        return torch.randperm(256, generator=self.generator(epoch))

    def batch(self, order, step):
        idx = self.local(order[step * self.settings.batch_size:(step + 1) * self.settings.batch_size])
        return self.x[idx], self.y[idx]

    def loss(self, order, step, epoch):
        x, y = self.batch(order, step)
        return F.mse_loss(self.model(x), y)


class OwnGenerator(_Regression):
    """Shuffles with a numpy generator it keeps: after a resume from a checkpoint it starts over."""

    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        self.rng = np.random.default_rng(settings.seed)

    def plan(self, epoch):
        return torch.from_numpy(self.rng.permutation(256))


class Counter(_Regression):
    """A curriculum on a counter of the steps it has seen: a replay from a checkpoint counts from 0."""

    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        self.seen = 0

    def loss(self, order, step, epoch):
        self.seen += 1
        x, y = self.batch(order, step)
        return F.mse_loss(self.model(x), y) * min(1.0, self.seen / 100)


class _Scaled(nn.Linear):
    def __init__(self, *args):
        super().__init__(*args)
        self.calls = 0  # not a parameter or buffer: no state_dict, so no checkpoint, holds it

    def forward(self, x):
        self.calls += 1
        return super().forward(x) * (1 + 1 / self.calls)


class HiddenModuleState(_Regression):
    """A module that counts its calls in a plain attribute and scales its output by it."""

    def network(self):
        return _Scaled(8, 1)
