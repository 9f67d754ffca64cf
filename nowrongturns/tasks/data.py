"""Data sets small enough to live on the device as one tensor, and their per-epoch minibatch plans.

The order of an epoch and the crop offsets of each of its steps are drawn from
generators seeded by (seed, epoch) and (seed, epoch, step) alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nowrongturns.tasks.seeding import generator

DIGITS_VAL_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0  # fixed: the split is part of the data set, not of the run
SYNTHETIC_DATA_SEED = 0  # fixed: the ALM data is the same for every seed of a study


@dataclass
class Arrays:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]


def load_digits(device, dtype, image: bool) -> Arrays:
    """scikit-learn's handwritten digits (1,797 8x8 images, shipped with the package), fixed 80/20 split."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_load_digits(return_X_y=True)
    x_tr, x_va, y_tr, y_va = train_test_split(
        x, y, test_size=DIGITS_VAL_FRACTION, random_state=DIGITS_SPLIT_SEED, stratify=y
    )
    mean, std = x_tr.mean(), x_tr.std()  # train statistics only
    shape = (-1, 1, 8, 8) if image else (-1, 64)

    def prep(a):
        return torch.as_tensor(((a - mean) / std).reshape(shape), dtype=dtype, device=device)

    def labels(a):
        return torch.as_tensor(a, dtype=torch.long, device=device)

    return Arrays(prep(x_tr), labels(y_tr), prep(x_va), labels(y_va))


def load_gaussian_regression(n: int, dim: int, device, dtype) -> Arrays:
    """x_i ~ N(0, I), y_i ~ N(0, 1): the data of the paper's asymmetric linear model (ALM)."""
    gen = generator("gaussian_regression", SYNTHETIC_DATA_SEED, n, dim)
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    y = torch.randn(n, generator=gen, dtype=torch.float64)
    return Arrays(x.to(device, dtype), y.to(device, dtype))


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The epoch's sample order; drawn on the CPU so every device sees the same minibatches."""
    return torch.randperm(n, generator=generator("order", seed, epoch))


def crop_offsets(seed: int, epoch: int, steps: int, batch: int, pad: int) -> torch.Tensor:
    """[steps, batch, 2] offsets in 0..2*pad, one generator per step."""
    return torch.stack(
        [torch.randint(0, 2 * pad + 1, (batch, 2), generator=generator("crop", seed, epoch, s)) for s in range(steps)]
    )


def random_crop(images: torch.Tensor, offsets: torch.Tensor, pad: int) -> torch.Tensor:
    """Batched random crop with zero padding (zero is the normalized mean), all on the device."""
    b, _c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    rows = offsets[:, 0, None] + torch.arange(h, device=images.device)  # [b, h]
    cols = offsets[:, 1, None] + torch.arange(w, device=images.device)  # [b, w]
    bidx = torch.arange(b, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]]  # [b, h, w, c]
    return out.permute(0, 3, 1, 2).contiguous()


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """t (on the host) on `device`; to a GPU through pinned memory, so the host does not wait for the copy."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Minibatches per epoch; the last partial batch is dropped so every step sees batch_size samples."""
    return max(1, n // batch_size)


def data_dir(settings) -> str:
    """The run's data_dir, for a data set read from a folder (the config sets it; a job built by hand may not)."""
    if not settings.data_dir:
        raise ValueError(f"run setting data_dir is required for dataset {settings.dataset!r}")
    return settings.data_dir
