"""Networks for the digits study and the objectives of the paper's Section 6.

The counterexamples and the random walk are written as modules with a single
parameter vector `w`, so they go through exactly the same protocol as networks.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def in_mode(model: nn.Module, training: bool):
    """The model in training or evaluation mode for the block, then back in the mode it had: a validation
    pass in the middle of training must not leave dropout off or BatchNorm frozen."""
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


class MLP(nn.Module):
    def __init__(self, inputs: int, width: int, depth: int, classes: int, dropout: float):
        super().__init__()
        layers, fan_in = [], inputs
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            fan_in = width
        layers.append(nn.Linear(fan_in, classes))
        self.net = nn.Sequential(nn.Flatten(), *layers)

    def forward(self, x):
        return self.net(x)


class SmallCNN(nn.Module):
    """Conv-BatchNorm-ReLU blocks for 8x8 digits; BatchNorm exercises buffers outside w."""

    def __init__(self, channels: int, depth: int, classes: int, dropout: float):
        super().__init__()
        blocks, c_in = [], 1
        for i in range(depth):
            c_out = channels * 2**i
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout) if dropout else nn.Identity(), nn.Linear(c_in * 4, classes))

    def forward(self, x):
        return self.head(self.features(x))


class VectorObjective(nn.Module):
    """A bare parameter vector w; `loss` is supplied by the task."""

    def __init__(self, dim: int, init_std: float, generator: torch.Generator):
        super().__init__()
        w = torch.randn(dim, generator=generator, dtype=torch.float64) * init_std if init_std else torch.zeros(dim)
        self.w = nn.Parameter(w.float())


def alm_loss(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Asymmetric linear model: mean_i max(0, w·x_i − y_i)² over the minibatch (convex, stochastic)."""
    return torch.relu(x @ w - y).square().mean()


def sinusoidal_mixture_loss(w: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """SM(w) = ‖w‖² + 100 Σ_i sin(a_i w_i)²: deterministic and strongly non-convex."""
    return w.square().sum() + 100.0 * torch.sin(a * w).square().sum()


def random_walk_loss(w: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """A linear loss whose gradient is the step's random direction ξ: SGD on it is an isotropic random walk."""
    return w @ xi
