"""ImageNet-1K (ILSVRC-2012, Deng et al. 2009) in the usual class-folder layout: train/<wnid>/*.JPEG and
val/<wnid>/*.JPEG (the official flat validation folder sorted into class folders, e.g. by the common valprep.sh).

Labels are the wnids' positions in sorted order of the train folder's class folders (torchvision's ImageFolder
order), so train and val agree. Augmentation is the standard ResNet recipe: RandomResizedCrop(224) and a
horizontal flip for training, Resize(256) + CenterCrop(224) for validation, then ImageNet mean/std. Each
training sample's draws are seeded by the sample_seed its key carries (see seeded.py): a pure function of
(seed, epoch, position in the epoch), whatever worker decodes it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2

from nowrongturns.tasks.loaders.seeded import make_loader, with_seed

__all__ = ["MEAN", "STD", "ImageNet", "class_names", "make_loader", "scan"]  # make_loader: this data set's loader

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def class_names(train_dir: Path) -> list[str]:
    if not train_dir.is_dir():
        raise FileNotFoundError(f"{train_dir}: missing; expected the ImageNet train/<wnid>/*.JPEG folders")
    names = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not names:
        raise FileNotFoundError(f"{train_dir}: no class folders; expected train/<wnid>/*.JPEG")
    return names


def scan(split_dir: Path, classes: list[str]) -> list[tuple[str, int]]:
    """(path, label) of every image, sorted by class then file name."""
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: missing; expected {split_dir.name}/<wnid>/*.JPEG")
    if any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in split_dir.iterdir()):
        raise ValueError(f"{split_dir}: holds images directly; expected them sorted into <wnid>/ class folders")
    index = {name: i for i, name in enumerate(classes)}
    samples = []
    for d in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        if d.name not in index:
            raise ValueError(f"{d}: class folder {d.name!r} is not among the {len(classes)} train classes")
        samples += [(str(f), index[d.name]) for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not samples:
        raise FileNotFoundError(f"{split_dir}: no images; expected {split_dir.name}/<wnid>/*.JPEG")
    return samples


class ImageNet(Dataset):
    """Items are keyed by (index, sample_seed), as EpochSampler yields them; validation ignores the seed.
    Returns (float32 [3, crop, crop] normalized image, int label). crop/resize are parameters for tests."""

    def __init__(self, root, split: str = "train", crop: int = 224, resize: int = 256, augment: bool | None = None):
        """augment: random crops and flips (default: for the train split only)."""
        root = Path(root)
        self.classes = class_names(root / "train")
        self.samples = scan(root / split, self.classes)
        self.train = split == "train" if augment is None else augment
        if self.train:
            head = [v2.RandomResizedCrop(crop, antialias=True), v2.RandomHorizontalFlip()]
        else:
            head = [v2.Resize(resize, antialias=True), v2.CenterCrop(crop)]
        self.transform = v2.Compose(head + [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True),
                                            v2.Normalize(MEAN, STD)])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key):
        index, sample_seed = key
        path, label = self.samples[index]
        try:
            with Image.open(path) as im:
                image = im.convert("RGB")
        except OSError as e:
            raise ValueError(f"{path}: not a readable image ({e})") from e
        x = with_seed(sample_seed, self.transform, image) if self.train else self.transform(image)
        return x.as_subclass(torch.Tensor), label
