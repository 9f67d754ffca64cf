"""ISPRS 2D semantic labeling benchmark, Vaihingen (Rottensteiner et al. 2012; data: DGPF, Cramer 2010), read and
sampled as Audebert et al.'s DeepNetsForEO (github.com/nshaud/DeepNetsForEO), the implementation the paper
follows (A.3, A.4).

On disk, the ISPRS layout: top/top_mosaic_09cm_area{N}.tif, the 3-channel 9 cm orthophoto tiles (their
channels are IR-R-G; the paper's "RGB components" are these 3 channels, without the DSM), and
gts_for_participants/top_mosaic_09cm_area{N}.tif, the colour-coded ground truth; .png is accepted for both.
The ground truth of the 17 benchmark test tiles came later, with the same file names, in
ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE/: pass that folder as gt_dir. The eroded ground truth
(black borders) is not a 6-class map and is rejected by colors_to_labels.

Split: the paper uses 11 train / 5 validation / 17 test tiles of the 33 ("the split used in [10]", Fatras et
al. 2021), but does not list them. The 16 tiles with public ground truth give train and validation, with
validation = areas 11, 15, 28, 30, 34, the 11/5 split used by D. Tuia's group (Volpi & Tuia 2017; Marcos et
al. 2018; Tuia co-authors [10]); the 17 benchmark test tiles are the test set. This is our documented choice;
pass explicit id lists to use another.

Patches: a training step draws, from generator("patch", seed, epoch, step) alone, for each patch a tile
(uniformly, as DeepNetsForEO does), a position (uniform over all valid ones), a vertical flip and a
horizontal mirror (each with probability 1/2). An epoch is 10,000 patches; validation is a fixed set of
1,000 un-augmented patches drawn with VAL_PATCH_SEED, the same for every run and epoch. Images are scaled
to [0, 1] as in DeepNetsForEO.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nowrongturns.config.layouts import (
    VAIHINGEN_GT,
    VAIHINGEN_SUFFIXES,
    VAIHINGEN_TEST_IDS,
    VAIHINGEN_TILE,
    VAIHINGEN_TOP,
    VAIHINGEN_TRAIN_IDS,
    VAIHINGEN_VAL_IDS,
)
from nowrongturns.tasks.seeding import generator

# ISPRS class colours, in label order
COLORS = ((255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0))
CLASSES = ("impervious surfaces", "building", "low vegetation", "tree", "car", "clutter")
TRAIN_IDS, VAL_IDS, TEST_IDS = VAIHINGEN_TRAIN_IDS, VAIHINGEN_VAL_IDS, VAIHINGEN_TEST_IDS
PATCH = 256
TRAIN_PATCHES = 10_000
VAL_PATCHES = 1_000
VAL_PATCH_SEED = 0  # fixed: the validation patches are part of the data set, not of the run
TILE_NAME, SUFFIXES = VAIHINGEN_TILE, VAIHINGEN_SUFFIXES

_CODES = np.array([(r << 16) | (g << 8) | b for r, g, b in COLORS])
_ORDER = np.argsort(_CODES)


@dataclass
class Tiles:
    ids: list[int]
    images: list[torch.Tensor]  # uint8 [3, H, W]
    labels: list[torch.Tensor]  # uint8 [H, W], class indices (uint8 keeps 16 full tiles small)

    def to(self, device) -> Tiles:
        """The tiles on `device`: patches are then cut there, with no copy per batch."""
        return Tiles(self.ids, [x.to(device) for x in self.images], [y.to(device) for y in self.labels])


def colors_to_labels(rgb: np.ndarray, source: str = "<array>") -> np.ndarray:
    """uint8 [H, W, 3] ISPRS colours -> uint8 [H, W] labels; any other colour is a ValueError naming source."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"{source}: shape {list(rgb.shape)}; expected an [H, W, 3] colour-coded ground truth")
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    pos = np.searchsorted(_CODES[_ORDER], codes).clip(max=len(_CODES) - 1)
    known = _CODES[_ORDER][pos] == codes
    if not known.all():
        found, counts = np.unique(codes[~known], return_counts=True)
        first = zip(found.tolist()[:10], counts[:10], strict=True)
        listed = ", ".join(f"{(c >> 16, (c >> 8) & 255, c & 255)} x{n}" for c, n in first)
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        raise ValueError(f"{source}: {int((~known).sum())} pixels have colours outside the ISPRS 6-class map: "
                         f"{listed}{more}")
    return _ORDER[pos].astype(np.uint8)


def _find(folder: Path, tile_id: int) -> Path:
    for suffix in SUFFIXES:
        path = folder / (TILE_NAME.format(tile_id) + suffix)
        if path.is_file():
            return path
    stem = folder / TILE_NAME.format(tile_id)
    raise FileNotFoundError(f"{stem}.tif: missing (nor .png); expected ISPRS Vaihingen tile {tile_id}")


def _read_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))  # a writable copy, for torch.from_numpy
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from e


def load_tiles(root, ids, gt_dir: str = VAIHINGEN_GT) -> Tiles:
    """The tiles `ids` from root/top/ and their labels from root/gt_dir/."""
    root = Path(root)
    images, labels = [], []
    for tile_id in ids:
        image_path, gt_path = _find(root / VAIHINGEN_TOP, tile_id), _find(root / gt_dir, tile_id)
        image, gt = _read_rgb(image_path), _read_rgb(gt_path)
        if image.shape != gt.shape:
            raise ValueError(f"{gt_path}: is {gt.shape[1]}x{gt.shape[0]}, its tile {image_path} is "
                             f"{image.shape[1]}x{image.shape[0]}; expected the same size")
        images.append(torch.from_numpy(image).permute(2, 0, 1).contiguous())
        labels.append(torch.from_numpy(colors_to_labels(gt, str(gt_path))))
    return Tiles(list(ids), images, labels)


def _draw(gen: torch.Generator, tiles: Tiles, n: int, patch: int, augment: bool) -> list[tuple[int, ...]]:
    """n (tile, row, col, flip, mirror) in the generator's order."""
    plan = []
    for _ in range(n):
        t = int(torch.randint(len(tiles.images), (1,), generator=gen))
        _, h, w = tiles.images[t].shape
        if h < patch or w < patch:
            raise ValueError(f"tile {tiles.ids[t]} is {w}x{h}, smaller than the {patch}x{patch} patch")
        r = int(torch.randint(h - patch + 1, (1,), generator=gen))
        c = int(torch.randint(w - patch + 1, (1,), generator=gen))
        flip, mirror = torch.randint(2, (2,), generator=gen).tolist() if augment else (0, 0)
        plan.append((t, r, c, flip, mirror))
    return plan


def _extract(tiles: Tiles, plan, patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for t, r, c, flip, mirror in plan:
        x = tiles.images[t][:, r:r + patch, c:c + patch]
        y = tiles.labels[t][r:r + patch, c:c + patch]
        dims = [d for d, on in ((-2, flip), (-1, mirror)) if on]  # flip: rows, mirror: columns
        if dims:
            x, y = x.flip(dims), y.flip(dims)
        xs.append(x)
        ys.append(y)
    return torch.stack(xs).float() / 255, torch.stack(ys).long()


def train_batch(tiles: Tiles, seed: int, epoch: int, step: int, batch_size: int,
                patch: int = PATCH, part: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
    """(float32 [B, 3, patch, patch] in [0, 1], int64 [B, patch, patch]), on the tiles' device. part: the
    patches of the batch to cut (a rank's share; all are drawn, so the draws do not depend on it)."""
    plan = _draw(generator("patch", seed, epoch, step), tiles, batch_size, patch, True)
    return _extract(tiles, plan[part], patch)


def val_batches(tiles: Tiles, batch_size: int, patch: int = PATCH, count: int = VAL_PATCHES):
    """The fixed validation patches, in batches (the last one may be short)."""
    return fixed_batches(tiles, batch_size, patch, count, "patch_val")


def fixed_batches(tiles: Tiles, batch_size: int, patch: int, count: int, name: str):
    """count patches drawn once from generator(name, VAL_PATCH_SEED), not flipped, in batches: a fixed set
    that is part of the data set, not of any run."""
    plan = _draw(generator(name, VAL_PATCH_SEED), tiles, count, patch, False)
    for i in range(0, count, batch_size):
        yield _extract(tiles, plan[i:i + batch_size], patch)


def steps_per_epoch(batch_size: int, count: int = TRAIN_PATCHES) -> int:
    return count // batch_size
