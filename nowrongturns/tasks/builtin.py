"""The built-in tasks: the digits study, the two counterexample objectives and the random-walk null model."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from nowrongturns.tasks import data, models
from nowrongturns.tasks.base import Task
from nowrongturns.tasks.seeding import derive_seed, generator

CROP_PAD = 1  # pixels of padding for the random crop of 8x8 digits


class DigitsTask(Task):
    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        image = settings.model == "cnn" or settings.augment
        self.arrays = data.load_digits(device, dtype, image=image)
        self.batch = settings.batch_size
        self.steps_per_epoch = data.steps_per_epoch(self.arrays.n_train, self.batch)
        torch.manual_seed(derive_seed("init", self.seed))
        if settings.model == "cnn":
            self.model = models.SmallCNN(settings.width, settings.depth, 10, settings.dropout)
        else:
            self.model = models.MLP(64, settings.width, settings.depth, 10, settings.dropout)
        self.model.to(device, dtype)

    def plan(self, epoch):
        order = data.to_device(data.epoch_order(self.arrays.n_train, self.seed, epoch), self.device)
        offsets = None
        if self.settings.augment:
            offsets = data.to_device(data.crop_offsets(self.seed, epoch, self.steps_per_epoch, self.batch, CROP_PAD),
                                     self.device)
        return order, offsets

    def loss(self, plan, i, epoch):
        order, offsets = plan
        idx = self.local(order[i * self.batch:(i + 1) * self.batch])
        x, y = self.arrays.x_train[idx], self.arrays.y_train[idx]
        if offsets is not None:
            x = data.random_crop(x, self.local(offsets[i]), CROP_PAD)
            if self.settings.model == "mlp":
                x = x.flatten(1)
        return F.cross_entropy(self.model(x), y)

    def full_batch_terms(self):
        b = self.settings.eval_batch_size
        for i in range(0, self.arrays.n_train, b):
            x, y = self.arrays.x_train[i:i + b], self.arrays.y_train[i:i + b]
            if self.settings.model == "mlp":
                x = x.flatten(1)
            yield F.cross_entropy(self.model(x), y, reduction="sum"), len(y)

    @torch.no_grad()
    def evaluate(self):
        x, y = self.arrays.x_val, self.arrays.y_val
        if self.settings.model == "mlp":
            x = x.flatten(1)
        with models.in_mode(self.model, training=False):
            logits = self.model(x)
        return {
            "val_loss": F.cross_entropy(logits, y).item(),
            "val_acc": (logits.argmax(1) == y).double().mean().item(),
        }


class ALMTask(Task):
    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        self.arrays = data.load_gaussian_regression(settings.dataset_size, settings.width, device, dtype)
        self.batch = settings.batch_size
        self.steps_per_epoch = data.steps_per_epoch(self.arrays.n_train, self.batch)
        gen = generator("init", self.seed)
        self.model = models.VectorObjective(settings.width, settings.init_scale, gen).to(device, dtype)

    def plan(self, epoch):
        return data.epoch_order(self.arrays.n_train, self.seed, epoch).to(self.device)

    def loss(self, order, i, epoch):
        idx = self.local(order[i * self.batch:(i + 1) * self.batch])
        return models.alm_loss(self.model.w, self.arrays.x_train[idx], self.arrays.y_train[idx])

    @torch.no_grad()
    def evaluate(self):
        return {"full_loss": models.alm_loss(self.model.w, self.arrays.x_train, self.arrays.y_train).item()}

    def full_batch_terms(self):
        b = self.settings.eval_batch_size
        for i in range(0, self.arrays.n_train, b):
            x, y = self.arrays.x_train[i:i + b], self.arrays.y_train[i:i + b]
            yield models.alm_loss(self.model.w, x, y) * len(y), len(y)


class SinusoidalMixtureTask(Task):
    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        self.steps_per_epoch = settings.steps_per_epoch
        gen = generator("sinusoidal_mixture", data.SYNTHETIC_DATA_SEED, settings.width)
        self.a = torch.randn(settings.width, generator=gen, dtype=torch.float64).to(device, dtype)
        self.model = models.VectorObjective(settings.width, settings.init_scale, generator("init", self.seed))
        self.model.to(device, dtype)

    def loss(self, plan, i, epoch):
        return models.sinusoidal_mixture_loss(self.model.w, self.a)

    @torch.no_grad()
    def evaluate(self):
        return {"full_loss": models.sinusoidal_mixture_loss(self.model.w, self.a).item()}

    def full_batch_terms(self):
        yield models.sinusoidal_mixture_loss(self.model.w, self.a), 1  # deterministic: one term


class RandomWalkTask(Task):
    """Null model of Section 6: x_{t+1} = x_t − lr·ξ_t with ξ_t ~ N(0, I/d), starting at 0."""

    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        self.steps_per_epoch = settings.steps_per_epoch
        self.dim = settings.width
        self.model = models.VectorObjective(self.dim, 0.0, generator("init", self.seed)).to(device, dtype)

    def plan(self, epoch):
        steps = [
            torch.randn(self.dim, generator=generator("walk", self.seed, epoch, i), dtype=torch.float64)
            for i in range(self.steps_per_epoch)
        ]
        return (torch.stack(steps) / self.dim**0.5).to(self.device, self.dtype)

    def loss(self, xis, i, epoch):
        return models.random_walk_loss(self.model.w, xis[i])
