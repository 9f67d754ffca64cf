"""Writes a small image folder to try dataset: image_folder on: train/<class>/*.png and val/<class>/*.png, three
classes of filled shapes (circle, square, triangle) of random size, place and colours on a random background.

    python examples/make_shapes.py data/shapes [--train 60] [--val 20] [--seed 0]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")


def draw(shape: str, rng: np.random.Generator) -> Image.Image:
    side = int(rng.integers(36, 49))  # sizes differ, as photos do: the loader resizes
    background, colour = (tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(2))
    im = Image.new("RGB", (side, side), background)
    r = rng.uniform(0.2, 0.4) * side
    cx, cy = rng.uniform(r, side - r, 2)
    pen = ImageDraw.Draw(im)
    if shape == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        pen.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return im


def write_shapes(root, train: int = 60, val: int = 20, seed: int = 0) -> Path:
    """train and val images per class under root; the same seed writes the same files."""
    root, rng = Path(root), np.random.default_rng(seed)
    for split, n in (("train", train), ("val", val)):
        for shape in CLASSES:
            folder = root / split / shape
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                draw(shape, rng).save(folder / f"{shape}_{i:04d}.png")
    return root


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--train", type=int, default=60, help="images per class in train/ (default 60)")
    parser.add_argument("--val", type=int, default=20, help="images per class in val/ (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"wrote {write_shapes(args.root, args.train, args.val, args.seed)}")
