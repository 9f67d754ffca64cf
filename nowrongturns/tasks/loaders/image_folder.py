"""Your images in torchvision's ImageFolder layout: train/<class>/* and val/<class>/*, the same classes in
both. Labels are the classes' positions in sorted order, as ImageFolder gives them.

Each image is decoded once, resized so its shorter side is `stored_size(image_size)` (image_size x 256/224,
the ResNet recipe's ratio) and center-cropped to that square: uint8 [N, 3, S, S] that stays on the device
when it fits (ImageFolderTask), as CIFAR-10 does. Training crops are drawn from that square:

  random resized crop  a box of 8-100% of the square's area and aspect ratio 3/4 to 4/3 (torchvision's
                       RandomResizedCrop: 10 tries, then the whole square), resampled bilinearly (no
                       antialiasing) to image_size, and a horizontal flip with probability 1/2;
  validation           the center image_size crop of the square (Resize(S) + CenterCrop(image_size)).

Every draw of a step comes from generator("image_folder_aug", seed, epoch, step) alone, on the CPU, and is
applied to the whole batch on the device in one grid_sample. Per-channel mean and std are computed from the
training squares with integer sums, so they are exact and the same whatever the order (or given in config).
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.nn import functional as F

from nowrongturns.config.data_layout import check_image_folder, listed_files
from nowrongturns.config.layouts import IMAGE_FOLDER_SPLITS, IMAGE_SUFFIXES
from nowrongturns.tasks.seeding import generator

# What the decoded squares of a folder are kept under (decoded_cache.py), beside its content and the side:
# change it with anything that changes the decoding (_decode), so that no job reads squares decoded otherwise.
DECODER = "pil-fit-bilinear-1"
SCALE = (0.08, 1.0)  # torchvision RandomResizedCrop's defaults
RATIO = (3 / 4, 4 / 3)
TRIES = 10


def stored_size(image_size: int) -> int:
    return round(image_size * 256 / 224)


@dataclass
class ImageFolderData:
    classes: list[str]
    x_train: torch.Tensor  # uint8 [N, 3, S, S]
    y_train: torch.Tensor  # int64 [N]
    x_val: torch.Tensor
    y_val: torch.Tensor


def _decode(path: str, side: int) -> np.ndarray:
    try:
        with Image.open(path) as im:
            square = ImageOps.fit(im.convert("RGB"), (side, side), method=Image.Resampling.BILINEAR)
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from e
    return np.asarray(square)


def _split(root: Path, split: str, classes: list[str], side: int, workers: int) -> tuple[torch.Tensor, torch.Tensor]:
    samples = [(str(f), label) for label, c in enumerate(classes)
               for f in sorted((root / split / c).rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES
               and not any(part.startswith(".") for part in f.relative_to(root).parts)]
    with ThreadPoolExecutor(max(1, workers)) as pool:  # PIL decodes without the GIL; map keeps the order
        images = list(pool.map(lambda s: _decode(s[0], side), samples))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor([label for _, label in samples], dtype=torch.int64)


def load_image_folder(root, image_size: int, workers: int = 0) -> ImageFolderData:
    """The train and val splits as uint8 squares of side stored_size(image_size); the layout is checked as at
    Snakemake's start (config/data_layout.py), with the same messages."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; expected train/<class>/* and val/<class>/* images")
    problem = check_image_folder(listed_files(root), root)
    if problem:
        raise ValueError(f"image_folder data in {root}: {problem}")
    classes = sorted(e.name for e in os.scandir(root / "train") if e.is_dir() and not e.name.startswith("."))
    side = stored_size(image_size)
    (x_train, y_train), (x_val, y_val) = (_split(root, s, classes, side, workers) for s in IMAGE_FOLDER_SPLITS)
    return ImageFolderData(classes, x_train, y_train, x_val, y_val)


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images [N, 3, H, W] as pixels in [0, 1], from exact
    integer sums."""
    n = x.shape[0] * x.shape[2] * x.shape[3]
    flat = x.transpose(0, 1).reshape(x.shape[1], -1).to(torch.int64)
    sums, squares = flat.sum(1).tolist(), flat.square().sum(1).tolist()
    mean = tuple(s / n / 255 for s in sums)
    std = tuple(math.sqrt(max(q / n / 255**2 - m * m, 0.0)) for q, m in zip(squares, mean, strict=True))
    return mean, std


def crop_draws(batch: int, side: int, seed: int, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's boxes [batch, 4] (top, left, height, width, int64) in a side x side square and flips
    [batch] (bool), as torchvision's RandomResizedCrop and RandomHorizontalFlip draw them."""
    gen = generator("image_folder_aug", seed, epoch, step)
    area = side * side * torch.empty(batch, TRIES, dtype=torch.float64).uniform_(*SCALE, generator=gen)
    log_ratio = torch.empty(batch, TRIES, dtype=torch.float64).uniform_(*map(math.log, RATIO), generator=gen)
    ratio = log_ratio.exp()
    w, h = (area * ratio).sqrt().round(), (area / ratio).sqrt().round()
    fits = (w > 0) & (h > 0) & (w <= side) & (h <= side)
    first = fits.to(torch.int8).argmax(1, keepdim=True)  # the first try that fits
    found = fits.any(1)
    # None fits: the whole square (its ratio 1 lies within RATIO, so torchvision takes it whole too).
    w = torch.where(found, w.gather(1, first)[:, 0], side)
    h = torch.where(found, h.gather(1, first)[:, 0], side)
    u = torch.rand(batch, 2, dtype=torch.float64, generator=gen)
    top, left = (u[:, 0] * (side - h + 1)).floor(), (u[:, 1] * (side - w + 1)).floor()
    flips = torch.rand(batch, generator=gen) < 0.5
    return torch.stack([top, left, h, w], 1).long(), flips


def epoch_crop_draws(batch: int, side: int, seed: int, epoch: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[steps, batch, 4] boxes and [steps, batch] flips: crop_draws for each step of the epoch."""
    draws = [crop_draws(batch, side, seed, epoch, step) for step in range(steps)]
    return torch.stack([b for b, _ in draws]), torch.stack([f for _, f in draws])


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, flips: torch.Tensor, size: int) -> torch.Tensor:
    """Each image's box, mirrored where flips is set, resampled bilinearly to size x size: float images
    [B, C, S, S] in, [B, C, size, size] out, on x's device."""
    side = x.shape[-1]
    top, left, h, w = boxes.to(x.dtype).unbind(1)
    theta = torch.zeros(len(x), 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = torch.where(flips, -w, w) / side  # normalised coordinates: [-1, 1] spans the square
    theta[:, 0, 2] = (2 * left + w) / side - 1
    theta[:, 1, 1] = h / side
    theta[:, 1, 2] = (2 * top + h) / side - 1
    grid = F.affine_grid(theta, [len(x), x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    start = (x.shape[-1] - size) // 2
    return x[..., start:start + size, start:start + size]
