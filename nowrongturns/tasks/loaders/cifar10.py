"""CIFAR-10 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html) as uint8 tensors that live on the device.

Two on-disk forms, told apart by what the folder holds:
  * the official "python version": cifar-10-batches-py/ (or the root itself) with data_batch_1..5, test_batch
    and batches.meta, each a pickled dict; a batch's b"data" is uint8 [N, 3072] (1024 red, then green, then
    blue values, rows top to bottom) and b"labels" N ints in 0..9; batches.meta's b"label_names" gives the
    class order;
  * an image-folder export: train/<class>/*.png|jpg and test/<class>/..., folders named by CLASSES.

Validation split: the paper's text names none; its public code holds out a random 20% of the 50,000
training images with torch's random_split and split seed 1. `paper_split` reproduces those indices exactly
and is what the pipeline uses. `train_val_split` (a fixed, stratified hold-out) is kept for other studies.

Augmentation: the pipeline uses the public code's random 32x32 crop of the image zero-padded by 4, then
per-channel normalization; `crop_flip_draws` also draws horizontal flips for studies that want them
(`random_crop_flip`). Every draw comes from generator("cifar_aug", seed, epoch, step) alone and is applied
to a whole batch on the device.
"""
from __future__ import annotations

import functools
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nowrongturns.config.layouts import CIFAR_CLASSES, IMAGE_SUFFIXES
from nowrongturns.tasks.data import random_crop
from nowrongturns.tasks.seeding import generator

CLASSES = CIFAR_CLASSES
MEAN = (0.4914, 0.4822, 0.4465)  # per-channel mean and std of the 50,000 training images, pixels in [0, 1]
STD = (0.2470, 0.2435, 0.2616)
VAL_SIZE = 5000
SPLIT_SEED = 0
PAD = 4
_BATCH = "a pickled dict with b'data' uint8 [N, 3072] and b'labels' (N ints in 0..9), the official python batch"


def load_cifar10(root) -> dict:
    """{x_train, y_train, x_test, y_test}: uint8 [N, 3, 32, 32] images, int64 labels in CLASSES order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; expected a CIFAR-10 root holding cifar-10-batches-py/ "
                                f"or train/<class>/ and test/<class>/ image folders")
    if (root / "cifar-10-batches-py").is_dir():
        return _load_batches(root / "cifar-10-batches-py")
    if any((root / name).exists() for name in ("batches.meta", "data_batch_1", "test_batch")):
        return _load_batches(root)
    if (root / "train").is_dir():
        return {**_load_folder(root / "train", "train"), **_load_folder(root / "test", "test")}
    raise FileNotFoundError(f"{root}: found neither cifar-10-batches-py/{{data_batch_1..5, test_batch, batches.meta}} "
                            f"nor train/<class>/ and test/<class>/ image folders")


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; expected {_BATCH}")
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="bytes")  # the official files are Python 2 pickles
    except Exception as e:  # unpickling fails in many ways (UnpicklingError, EOFError, ...): all mean malformed
        raise ValueError(f"{path}: not a readable pickle ({type(e).__name__}: {e}); expected {_BATCH}") from e
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: holds a {type(obj).__name__}; expected {_BATCH}")  # noqa: TRY004 (bad file)
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle(path)
    if "data" not in d or "labels" not in d:
        raise ValueError(f"{path}: has keys {sorted(d)}; expected {_BATCH}")
    x, y = np.asarray(d["data"]), np.asarray(d["labels"])
    ok = (x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == 3072 and y.shape == (len(x),)
          and np.issubdtype(y.dtype, np.integer) and (y.size == 0 or (y.min() >= 0 and y.max() < 10)))
    if not ok:
        raise ValueError(f"{path}: data is {x.dtype} {list(x.shape)} with {y.size} labels; expected {_BATCH}")
    return x, y


def _load_batches(folder: Path) -> dict:
    meta = _unpickle(folder / "batches.meta")
    names = tuple(n.decode() if isinstance(n, bytes) else n for n in meta.get("label_names", ()))
    if names != CLASSES:  # catches CIFAR-100 or a re-ordered export, which would silently mislabel
        raise ValueError(f"{folder / 'batches.meta'}: label_names {list(names)}; expected {list(CLASSES)}")
    train = [_read_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = _read_batch(folder / "test_batch")

    def images(a):
        return torch.from_numpy(a.reshape(-1, 3, 32, 32).copy())

    return {"x_train": images(np.concatenate([x for x, _ in train])),
            "y_train": torch.from_numpy(np.concatenate([y for _, y in train]).astype(np.int64)),
            "x_test": images(x_test), "y_test": torch.from_numpy(y_test.astype(np.int64))}


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            a = np.asarray(im.convert("RGB"))
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from e
    if a.shape != (32, 32, 3):
        raise ValueError(f"{path}: is {a.shape[1]}x{a.shape[0]}; expected a 32x32 CIFAR-10 image")
    return a


def _load_folder(folder: Path, split: str) -> dict:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: missing; expected {split}/<class>/*.png|jpg with class folders "
                                f"named {', '.join(CLASSES)}")
    xs, ys = [], []
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        if d.name not in CLASSES:
            raise ValueError(f"{d}: unknown class folder {d.name!r}; expected one of {', '.join(CLASSES)}")
        for f in sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            xs.append(_read_image(f))
            ys.append(CLASSES.index(d.name))
    if not xs:
        raise FileNotFoundError(f"{folder}: no images; expected {split}/<class>/*.png|jpg")
    return {f"x_{split}": torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous(),
            f"y_{split}": torch.tensor(ys, dtype=torch.int64)}


def paper_split(n: int, train_fraction: float = 0.8, split_seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(train_idx, val_idx) exactly as the paper's public code makes them: torch.utils.data.random_split of
    the n training images into 80% / 20% with torch.Generator().manual_seed(1) (40,000 / 10,000 for CIFAR-10)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    n_train = int(n * train_fraction)
    return perm[:n_train], perm[n_train:]


def train_val_split(y, val_size: int = VAL_SIZE, split_seed: int = SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(train_idx, val_idx), sorted: each class gives val_size * n_class / n of its samples (largest remainders
    round up), the first ones in a random order drawn from generator("train_val_split", split_seed)."""
    y = torch.as_tensor(y).cpu()
    n = len(y)
    if not 0 < val_size < n:
        raise ValueError(f"val_size {val_size}: expected 0 < val_size < {n}")
    classes, counts = torch.unique(y, return_counts=True)
    quota = counts * val_size // n
    remainder = counts * val_size % n
    quota[torch.argsort(remainder, descending=True, stable=True)[: val_size - int(quota.sum())]] += 1
    order = torch.randperm(n, generator=generator("train_val_split", split_seed))
    is_val = torch.zeros(n, dtype=torch.bool)
    for c, q in zip(classes, quota, strict=True):
        is_val[order[y[order] == c][:q]] = True
    return torch.nonzero(~is_val).flatten(), torch.nonzero(is_val).flatten()


def crop_flip_draws(batch: int, seed: int, epoch: int, step: int, pad: int = PAD) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's crop offsets [batch, 2] in 0..2*pad and flips [batch] (bool), drawn on the CPU so every
    device gets the same ones."""
    gen = generator("cifar_aug", seed, epoch, step)
    offsets = torch.randint(0, 2 * pad + 1, (batch, 2), generator=gen)
    flips = torch.randint(0, 2, (batch,), generator=gen).bool()
    return offsets, flips


def epoch_crop_offsets(batch: int, seed: int, epoch: int, steps: int, pad: int = PAD) -> torch.Tensor:
    """[steps, batch, 2]: the crop offsets of crop_flip_draws for each step of the epoch."""
    return torch.stack([crop_flip_draws(batch, seed, epoch, step, pad)[0] for step in range(steps)])


def random_crop_flip(x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    """Crop [B, 3, 32, 32] images (uint8, or float before normalization: the padding is black) at offsets,
    then mirror those with flips set; any dtype, on x's device."""
    out = random_crop(x, offsets.to(x.device), pad)
    return torch.where(flips.to(x.device)[:, None, None, None], out.flip(3), out)


def normalize(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 pixels (or floats already in [0, 1]) to (x - MEAN) / STD per channel."""
    x = x.to(dtype) / 255 if x.dtype == torch.uint8 else x.to(dtype)
    mean, std = _channel_stats(dtype, x.device)
    return (x - mean) / std


@functools.cache
def _channel_stats(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """MEAN and STD as [3, 1, 1] tensors on the device, made once: a copy to a GPU at every step
    would make the host wait for it."""
    return (torch.tensor(MEAN, dtype=dtype, device=device)[:, None, None],
            torch.tensor(STD, dtype=dtype, device=device)[:, None, None])
