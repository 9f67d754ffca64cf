"""What a data folder holds, counted, and what is missing or malformed, each problem naming its file or folder:
`nowrongturns data check DIR --dataset NAME`.

Each inspection reads the folder as its loader (nowrongturns/tasks/loaders/) reads it, with the names in
config/layouts.py, but without torch: it counts files (and unpickles CIFAR-10's batches) instead of decoding
images, so it runs in seconds on a full ImageNet. The start-up check (config/data_layout.py) stops at the first
problem; this lists them all.
"""
from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nowrongturns.config.data_layout import check_image_folder, image_folder_classes, listed_files
from nowrongturns.config.layouts import (
    CIFAR_BATCHES,
    CIFAR_CLASSES,
    IMAGE_FOLDER_SPLITS,
    IMAGE_SUFFIXES,
    TEXT_NAMINGS,
    TEXT_SPLITS,
    VAIHINGEN_GT,
    VAIHINGEN_SUFFIXES,
    VAIHINGEN_TEST_IDS,
    VAIHINGEN_TILE,
    VAIHINGEN_TOP,
    VAIHINGEN_TRAIN_IDS,
    VAIHINGEN_VAL_IDS,
)

VAIHINGEN_GT_COMPLETE = "ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE"  # the test tiles' labels, later

IMAGENET_CLASSES = 1000
WNID = re.compile(r"n\d{8}")
SHOWN = 5  # names listed in one problem line before "and N more"


@dataclass
class Inspection:
    dataset: str
    folder: str
    counts: list[str] = field(default_factory=list)  # human-readable lines, e.g. "train: 1,000 classes, ..."
    problems: list[str] = field(default_factory=list)  # each names the file or folder at fault

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        lines = [f"{self.dataset} data in {self.folder}"]
        lines += [f"  {c}" for c in self.counts]
        if self.problems:
            lines += ["problems:"] + [f"  - {p}" for p in self.problems]
        else:
            lines.append("no problems found: the folder holds what the loader reads")
        return "\n".join(lines)


def inspect_folder(dataset: str, folder) -> Inspection:
    """The counts and problems of `folder` as data set `dataset`; ValueError for a data set it does not know."""
    if dataset not in _INSPECT:
        raise ValueError(f"cannot inspect data set {dataset!r}: known are {', '.join(DATASETS_INSPECTED)}")
    root = Path(folder)
    found = Inspection(dataset, str(root))
    if not root.is_dir():
        found.problems.append(f"{root}: {'not a folder' if root.exists() else 'no such folder'}")
        return found
    _INSPECT[dataset](root, found)
    return found


def _n(count: int) -> str:
    return f"{count:,}"


def _of(count: int, noun: str) -> str:
    """"1 image", "1,000 images", "2 classes"."""
    return f"{_n(count)} {noun}" if count == 1 else f"{_n(count)} {noun}{'es' if noun.endswith('s') else 's'}"


def _listed(names: list[str], shown: int = SHOWN) -> str:
    """The first `shown` names, then how many more."""
    more = f" and {_n(len(names) - shown)} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


# --- class folders: ImageNet and CIFAR-10's image-folder export -----------------------------------------------

@dataclass
class _ClassSplit:
    """A split folder as imagenet.scan and cifar10._load_folder read it: every folder in it is a class, whose
    images are its files with an image suffix (not below it); image files in the split folder itself are loose."""
    images: dict[str, int]  # class folder -> its images
    loose: list[str]  # relative names, sorted
    empty_files: list[str]  # zero-byte images, relative names, sorted


def _scan_classes(root: Path, split: str) -> _ClassSplit:
    images, loose, empty_files = {}, [], []
    # os.scandir: the directory entries carry the file type, so only the images' sizes cost a stat each.
    with os.scandir(root / split) as entries:
        for entry in entries:
            if entry.is_dir():
                images[entry.name] = 0
            elif _is_image(entry.name) and entry.is_file():
                loose.append(f"{split}/{entry.name}")
    for cls in images:
        with os.scandir(root / split / cls) as entries:
            for entry in entries:
                if _is_image(entry.name):
                    images[cls] += 1
                    if entry.is_file() and entry.stat().st_size == 0:
                        empty_files.append(f"{split}/{cls}/{entry.name}")
    return _ClassSplit(dict(sorted(images.items())), sorted(loose), sorted(empty_files))


def _class_split_problems(scan: _ClassSplit, split: str, expected: str) -> list[str]:
    problems = []
    if scan.loose:
        others = f" and {_of(len(scan.loose) - 1, 'more image')} lie" if len(scan.loose) > 1 else " lies"
        problems.append(f"{scan.loose[0]}{others} in {split}/ itself; expected sorted into {expected}")
    if not scan.images:
        problems.append(f"{split}/ holds no class folders; expected {expected}")
    empty = [f"{split}/{c}/" for c, n in scan.images.items() if n == 0]
    if empty:
        problems.append(f"class folders with no images (.jpeg, .jpg or .png): {_listed(empty)}")
    if scan.empty_files:
        problems.append(f"zero-byte images: {_listed(scan.empty_files)}")
    return problems


def _per_class(images: dict[str, int]) -> str:
    return f"{_n(min(images.values()))}..{_n(max(images.values()))} per class" if images else "none per class"


def _inspect_imagenet(root: Path, found: Inspection) -> None:
    expected = {s: f"{s}/<wnid>/*.JPEG" for s in ("train", "val")}
    scans = {}
    for split in ("train", "val"):
        if not (root / split).is_dir():
            found.problems.append(f"{split}/: missing; expected {expected[split]}, ImageNet-1K's "
                                  f"{_n(IMAGENET_CLASSES)} class folders named by WordNet id")
            continue
        scan = scans[split] = _scan_classes(root, split)
        found.counts.append(f"{split}: {_of(len(scan.images), 'class')} (ImageNet-1K has {_n(IMAGENET_CLASSES)}), "
                            f"{_of(sum(scan.images.values()), 'image')} ({_per_class(scan.images)})")
        found.problems += _class_split_problems(scan, split, expected[split])
        not_wnid = [f"{split}/{c}/" for c in scan.images if not WNID.fullmatch(c)]
        if not_wnid:
            found.problems.append(f"class folders not named by a WordNet id (n########): {_listed(not_wnid)}")
    if "train" in scans and "val" in scans:
        # The labels are positions among train/'s classes: a class only in val/ has none, and the loader stops.
        only_val = [f"val/{c}/" for c in scans["val"].images if c not in scans["train"].images]
        if only_val:
            found.problems.append(f"class folders in val/ but not in train/ (the loader refuses them): "
                                  f"{_listed(only_val)}")


# --- CIFAR-10 ---------------------------------------------------------------------------------------------------

_BATCH = "a pickled dict with b'data' uint8 [N, 3072] and b'labels' (N ints in 0..9)"


def _unpickle(path: Path) -> tuple[object, str | None]:
    """(the unpickled object, None), or (None, why it did not unpickle)."""
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes"), None  # the official files are Python 2 pickles
    # Unpickling fails in many ways (UnpicklingError, EOFError, ValueError, ...): each means a malformed file.
    except Exception as e:  # noqa: BLE001
        return None, type(e).__name__


def _read_batch(path: Path, name: str) -> tuple[int | None, str | None]:
    """(the batch's images, None), or (None, the problem naming it), checked as cifar10._read_batch checks it."""
    batch, error = _unpickle(path)
    if error:
        return None, f"{name}: not a readable pickle ({error}); expected {_BATCH}"
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        held = f"keys {sorted(map(str, batch))}" if isinstance(batch, dict) else f"a {type(batch).__name__}"
        return None, f"{name}: holds {held}; expected {_BATCH}"
    x, y = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if not (x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == 3072 and y.shape == (len(x),)
            and np.issubdtype(y.dtype, np.integer) and (y.size == 0 or (y.min() >= 0 and y.max() < 10))):
        return None, f"{name}: data is {x.dtype} {list(x.shape)} with {y.size} labels; expected {_BATCH}"
    return len(y), None


def _label_names(path: Path, name: str) -> str | None:
    """The problem with batches.meta, or None."""
    expected = f"a pickled dict whose b'label_names' are {', '.join(CIFAR_CLASSES)}"
    if not path.is_file():
        return f"{name}: missing; expected {expected}"
    meta, error = _unpickle(path)
    if error or not isinstance(meta, dict):
        return f"{name}: not a readable pickled dict ({error or type(meta).__name__}); expected {expected}"
    names = tuple(n.decode() if isinstance(n, bytes) else n for n in meta.get(b"label_names", ()))
    # CIFAR-100 or a re-ordered export would silently mislabel every image.
    return None if names == CIFAR_CLASSES else f"{name}: label_names {list(names)}; expected {list(CIFAR_CLASSES)}"


def _inspect_cifar_batches(root: Path, prefix: str, found: Inspection) -> None:
    found.counts.append(f"form: the official python batches in {prefix or './'}")
    images = {}
    missing = [prefix + b for b in CIFAR_BATCHES if not (root / prefix / b).is_file()]
    if missing:
        found.problems.append(f"missing batches: {', '.join(missing)}")
    for batch in CIFAR_BATCHES:
        if prefix + batch not in missing:
            images[batch], problem = _read_batch(root / prefix / batch, prefix + batch)
            if problem:
                found.problems.append(problem)
    for split, batches in (("train", CIFAR_BATCHES[:-1]), ("test", CIFAR_BATCHES[-1:])):
        read = [b for b in batches if images.get(b) is not None]
        found.counts.append(f"{split}: {_of(sum(images[b] for b in read), 'image')} from {len(read)} of {len(batches)} "
                            f"batches (CIFAR-10 has {'50,000' if split == 'train' else '10,000'})")
    problem = _label_names(root / prefix / "batches.meta", prefix + "batches.meta")
    if problem:
        found.problems.append(problem)


def _inspect_cifar_images(root: Path, found: Inspection) -> None:
    found.counts.append("form: an image-folder export, train/<class>/ and test/<class>/")
    expected = "{}/<class>/*.png, class folders named " + ", ".join(CIFAR_CLASSES)
    for split in ("train", "test"):
        if not (root / split).is_dir():
            found.problems.append(f"{split}/: missing; expected {expected.format(split)}")
            continue
        scan = _scan_classes(root, split)
        found.counts.append(f"{split}: {_of(len(scan.images), 'class')} (CIFAR-10 has 10), "
                            f"{_of(sum(scan.images.values()), 'image')} ({_per_class(scan.images)})")
        found.problems += _class_split_problems(scan, split, expected.format(split))
        unknown = [f"{split}/{c}/" for c in scan.images if c not in CIFAR_CLASSES]
        if unknown:
            found.problems.append(f"class folders not among CIFAR-10's classes (the loader refuses them): "
                                  f"{_listed(unknown)}")


def _inspect_cifar10(root: Path, found: Inspection) -> None:
    # The loader's order: cifar-10-batches-py/, batches in the folder itself, then the image folders.
    if (root / "cifar-10-batches-py").is_dir():
        _inspect_cifar_batches(root, "cifar-10-batches-py/", found)
    elif any((root / name).exists() for name in ("batches.meta", "data_batch_1", "test_batch")):
        _inspect_cifar_batches(root, "", found)
    elif (root / "train").is_dir():
        _inspect_cifar_images(root, found)
    else:
        found.problems.append(f"{root}: holds neither cifar-10-batches-py/{{data_batch_1..5, test_batch, "
                              f"batches.meta}} nor train/<class>/*.png and test/<class>/*.png image folders")


# --- Vaihingen --------------------------------------------------------------------------------------------------

def _tile(folder: Path, tile_id: int) -> Path | None:
    """The file vaihingen._find reads for the tile: .tif first, then .png."""
    for suffix in VAIHINGEN_SUFFIXES:
        path = folder / (VAIHINGEN_TILE.format(tile_id) + suffix)
        if path.is_file():
            return path
    return None


def _inspect_vaihingen(root: Path, found: Inspection) -> None:
    splits = {"train": VAIHINGEN_TRAIN_IDS, "val": VAIHINGEN_VAL_IDS, "test": VAIHINGEN_TEST_IDS}
    fitted = VAIHINGEN_TRAIN_IDS + VAIHINGEN_VAL_IDS  # the areas the loader reads, with their ground truth
    present = []
    for sub, what, kept in ((VAIHINGEN_TOP, "tiles", splits), (VAIHINGEN_GT, "ground-truth files", ("train", "val"))):
        if not (root / sub).is_dir():
            found.problems.append(f"{sub}/: missing; expected the train and validation {what}, "
                                  f"{sub}/{VAIHINGEN_TILE.format('<N>')}.tif (or .png)")
            continue
        tiles = {i: p for i in VAIHINGEN_TRAIN_IDS + VAIHINGEN_VAL_IDS + VAIHINGEN_TEST_IDS
                 if (p := _tile(root / sub, i)) is not None}
        present += tiles.values()
        per_split = ", ".join(f"{sum(i in tiles for i in splits[s])} of {len(splits[s])} {s}" for s in kept)
        found.counts.append(f"{sub}/: {len(tiles)} {what} ({per_split})")
        missing = [f"{sub}/{VAIHINGEN_TILE.format(i)}.tif" for i in fitted if i not in tiles]
        if missing:
            found.problems.append(f"missing {what} of train and validation areas (nor as .png): {', '.join(missing)}")
    # The test areas' labels are not in the participants' zip: they came later, in a folder of their own.
    complete = [p for i in VAIHINGEN_TEST_IDS if (p := _tile(root / VAIHINGEN_GT_COMPLETE, i)) is not None]
    present += complete
    where = f"in {VAIHINGEN_GT_COMPLETE}/" if complete else f"(published separately, in {VAIHINGEN_GT_COMPLETE}/)"
    found.counts.append(f"test ground truth: {len(complete)} of {len(VAIHINGEN_TEST_IDS)} {where}")
    empty = [p.relative_to(root).as_posix() for p in present if p.stat().st_size == 0]
    if empty:
        found.problems.append(f"zero-byte files: {_listed(empty)}")


# --- word-level text: WikiText-2 and Penn Treebank --------------------------------------------------------------

def _first_bad_line(path: Path) -> int:
    """The number of the first line that is not UTF-8 (lines split at b"\\n")."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode("utf8")
            except UnicodeDecodeError:
                return number
    return 0


def _count_text(path: Path) -> tuple[int, int]:
    """(lines, whitespace-separated tokens), streamed; lines as the loader iterates them (universal newlines)."""
    lines = tokens = 0
    with open(path, encoding="utf8") as f:
        for line in f:
            lines += 1
            tokens += len(line.split())
    return lines, tokens


def _inspect_text(root: Path, found: Inspection) -> None:
    # The first naming whose train file exists is the one the loader reads (text.find_files).
    naming = next((n for n in TEXT_NAMINGS if (root / n.format("train")).is_file()), None)
    if naming is None:
        found.problems.append(f"{root}: holds none of " + ", ".join(n.format("train") for n in TEXT_NAMINGS))
        return
    missing = [naming.format(s) for s in TEXT_SPLITS if not (root / naming.format(s)).is_file()]
    if missing:
        found.problems.append(f"missing {', '.join(missing)} (found {naming.format('train')})")
    for split in TEXT_SPLITS:
        name = naming.format(split)
        if name in missing:
            continue
        path = root / name
        if path.stat().st_size == 0:
            found.counts.append(f"{split}: 0 lines, 0 tokens ({name})")
            found.problems.append(f"{name}: empty file")
            continue
        try:
            lines, tokens = _count_text(path)
        except UnicodeDecodeError:
            found.problems.append(f"{name}: not UTF-8 text (line {_n(_first_bad_line(path))})")
            continue
        found.counts.append(f"{split}: {_of(lines, 'line')}, {_of(tokens, 'token')} ({name})")
        if tokens == 0:
            found.problems.append(f"{name}: holds no tokens ({_of(lines, 'blank line')})")


# --- your images: torchvision's ImageFolder layout ---------------------------------------------------------------

def _inspect_image_folder(root: Path, found: Inspection) -> None:
    files = listed_files(root)
    split_problems = []
    for split in IMAGE_FOLDER_SPLITS:
        classes, problem = image_folder_classes(files, root, split)
        if problem:
            split_problems.append(problem)
        if classes:
            per_class = {c: 0 for c in classes}
            for name in files:  # the loader reads a class's images at any depth below its folder
                parts = name.split("/")
                if len(parts) > 2 and parts[0] == split and parts[1] in per_class and _is_image(name):
                    per_class[parts[1]] += 1
            found.counts.append(f"{split}: {_of(len(classes), 'class')}, {_of(sum(per_class.values()), 'image')} "
                                f"({_per_class(per_class)})")
    # With both splits usable, the check's remaining verdict is whether they hold the same classes.
    found.problems += split_problems or [p for p in [check_image_folder(files, root)] if p]


_INSPECT: dict[str, Callable[[Path, Inspection], None]] = {
    "cifar10": _inspect_cifar10,
    "imagenet": _inspect_imagenet,
    "vaihingen": _inspect_vaihingen,
    "wikitext2": _inspect_text,
    "ptb": _inspect_text,
    "image_folder": _inspect_image_folder,
}
DATASETS_INSPECTED: tuple[str, ...] = tuple(_INSPECT)
