"""Stand-in data sets in the real on-disk formats, sized for timing: the real loaders read them.

The CIFAR-10 images are random (timing does not depend on pixel values); the WikiText-2 stand-in
has WikiText-2's 33,278-word vocabulary, so the language model's embedding and decoder have their
real sizes; the ImageNet stand-in has its 1,000 class folders, so the ResNet's classifier has its
real size.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

WIKITEXT2_VOCAB = 33_278


def write_cifar10(root: Path, train_images: int, seed: int = 0) -> Path:
    """The official python version (cifar-10-batches-py: five training pickles, a test pickle, meta)
    with train_images images in all; the paper's split keeps 80% of them for training."""
    from nowrongturns.tasks.loaders import cifar10

    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    per_batch = -(-train_images // 5)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = per_batch if name != "test_batch" else 100
        d = {b"batch_label": name.encode(), b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"labels": rng.integers(0, 10, n).tolist(), b"filenames": [b"x.png"] * n}
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
    meta = {b"label_names": [c.encode() for c in cifar10.CLASSES], b"num_cases_per_batch": per_batch,
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


def write_wikitext2(root: Path, train_tokens: int, seed: int = 0) -> Path:
    """wiki.{train,valid,test}.tokens: every vocabulary word appears in the validation file, the
    training file is train_tokens random words (lines of 20 words; each line adds <eos>)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    words = [f"w{i}" for i in range(WIKITEXT2_VOCAB - 1)]  # + <eos> = the full vocabulary
    (root / "wiki.valid.tokens").write_text("\n".join(" ".join(words[i:i + 20]) for i in range(0, len(words), 20)) + "\n")
    draws = rng.integers(0, len(words), train_tokens)
    lines = [" ".join(words[j] for j in draws[i:i + 20]) for i in range(0, train_tokens, 20)]
    (root / "wiki.train.tokens").write_text("\n".join(lines) + "\n")
    (root / "wiki.test.tokens").write_text("w0 w1\n")
    return root


def write_image_folder(root: Path, classes: int = 10, per_class: int = 8, size: int = 40, seed: int = 0) -> Path:
    """train/<class>/*.png (per_class random images a class) and val/<class>/*.png (one a class)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("val", 1)):
        for c in range(classes):
            folder = root / split / f"class{c:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return root


def write_imagenet(root: Path, classes: int = 1000, size: int = 64, seed: int = 0) -> Path:
    """train/<wnid>/*.JPEG and val/<wnid>/*.JPEG: one random size x size image per class and split."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{split}_{c}.JPEG", quality=90)
    return root
