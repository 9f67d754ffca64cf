"""Does a data folder hold what its loader reads? Checked on the fingerprint's file list when
Snakemake starts, before any job: a wrong path or an empty file fails in seconds, not hours in.

The loaders (nowrongturns/tasks/loaders/) check the content itself when they read it.
"""
from __future__ import annotations

import os
from pathlib import Path

from nowrongturns.config.layouts import (
    CIFAR_BATCHES,
    IMAGE_FOLDER_SPLITS,
    IMAGE_SUFFIXES,
    SAVE_TO_DISK,
    TEXT_CORPUS_SPLITS,
    TEXT_CORPUS_SUFFIXES,
    TEXT_NAMINGS,
    TEXT_SPLITS,
    VAIHINGEN_TOP,
)
from nowrongturns.config.registry import DATASETS, load_object


class DataLayoutError(ValueError):
    """A data folder lacks a file its loader needs."""


def _under(files: dict, prefix: str, suffixes=None) -> bool:
    return any(n.startswith(prefix) and (suffixes is None or n.lower().endswith(suffixes)) for n in files)


def check_layout(dataset: str, root: str, files: dict) -> None:
    """files: {relative name: [size, ...]} as the fingerprint lists them; the data set's registry row
    names its check, which is given the file list and the folder."""
    check = DATASETS[dataset].check
    if check is not None:
        problem = load_object(check)(files, Path(root))
        if problem:
            raise DataLayoutError(f"{dataset} data in {root}: {problem}")


# Each check: the problem with a folder's file list, or None.
def check_cifar10(files, root):
    for prefix in ("cifar-10-batches-py/", ""):
        if any(prefix + b in files for b in CIFAR_BATCHES):
            missing = [prefix + b for b in CIFAR_BATCHES if prefix + b not in files]
            return f"missing {', '.join(missing)}" if missing else None
    if _under(files, "train/", IMAGE_SUFFIXES) and _under(files, "test/", IMAGE_SUFFIXES):
        return None
    return ("found neither cifar-10-batches-py/{data_batch_1..5, test_batch} nor train/<class>/*.png and "
            "test/<class>/*.png image folders")


def check_imagenet(files, root):
    missing = [s for s in ("train", "val") if not _under(files, f"{s}/", (".jpeg", ".jpg", ".png"))]
    return f"no images in {' or '.join(f'{s}/<wnid>/' for s in missing)}" if missing else None


def check_text(files, root):
    for naming in TEXT_NAMINGS:
        names = {s: naming.format(s) for s in TEXT_SPLITS}
        if names["train"] in files:
            missing = [n for n in names.values() if n not in files]
            if missing:
                return f"missing {', '.join(missing)} (found {names['train']})"
            empty = [n for n in names.values() if files[n][0] == 0]
            return f"{', '.join(empty)} holds no tokens (empty file)" if empty else None
    return "found none of " + ", ".join(n.format("train") for n in TEXT_NAMINGS)


def check_vaihingen(files, root):
    if not _under(files, VAIHINGEN_TOP + "/", (".tif", ".png")):
        return f"no tiles in {VAIHINGEN_TOP}/ (expected {VAIHINGEN_TOP}/top_mosaic_09cm_area<N>.tif)"
    return None



def listed_files(root: Path) -> dict:
    """Every file under root by relative POSIX name, hidden names skipped, as the fingerprint lists them (the list
    the checks here read, for a reader that has no fingerprint at hand)."""
    found = {}
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(folder).relative_to(root).as_posix()
        found.update({(n if rel == "." else f"{rel}/{n}"): None for n in names if not n.startswith(".")})
    return found


def image_folder_classes(files: dict, root: Path, split: str) -> tuple[list[str], str | None]:
    """(the class folders of root/split, sorted as torchvision's ImageFolder sorts them; the problem, or None).
    A class is a folder split/<class>/ with image files at any depth below it; an empty folder, which the
    file list cannot show, is found by listing split/ itself."""
    folder = root / split
    if not folder.is_dir():
        return [], f"no {split}/ folder (expected {split}/<class>/*.png|jpg|jpeg)"
    loose = sorted(n for n in files if n.startswith(f"{split}/") and n.count("/") == 1)
    if loose:
        return [], f"{loose[0]} lies in {split}/ itself; sort the images into {split}/<class>/ folders"
    images: dict[str, int] = {}
    for name in files:
        if name.startswith(f"{split}/") and name.lower().endswith(IMAGE_SUFFIXES):
            cls = name.split("/")[1]
            images[cls] = images.get(cls, 0) + 1
    with os.scandir(folder) as entries:
        classes = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    if not classes:
        return [], f"{split}/ holds no class folders (expected {split}/<class>/*.png|jpg|jpeg)"
    empty = [c for c in classes if c not in images]
    if empty:
        return classes, f"class folder {split}/{empty[0]}/ holds no images (.png, .jpg or .jpeg)" + (
            f", nor do {len(empty) - 1} more" if len(empty) > 1 else "")
    return classes, None


def check_image_folder(files, root):
    train, problem = image_folder_classes(files, root, IMAGE_FOLDER_SPLITS[0])
    if problem:
        return problem
    val, problem = image_folder_classes(files, root, IMAGE_FOLDER_SPLITS[1])
    if problem:
        return problem
    if train != val:
        only_train, only_val = sorted(set(train) - set(val)), sorted(set(val) - set(train))
        parts = [f"train/ only: {', '.join(only_train)}" if only_train else "",
                 f"val/ only: {', '.join(only_val)}" if only_val else ""]
        return f"train/ and val/ hold different classes ({'; '.join(p for p in parts if p)})"
    return None


def text_corpus_files(files: dict) -> tuple[dict[str, str] | None, str | None]:
    """({split: the file or save_to_disk split folder that holds it}, None), or (None, the problem). Tried in
    order: a save_to_disk folder, <split>.{txt,parquet,jsonl,json}, then the word-level namings
    (wiki.{train,valid}.tokens, ptb.{train,valid}.txt)."""
    if SAVE_TO_DISK in files:
        found = {s: s for s in TEXT_CORPUS_SPLITS if _under(files, f"{s}/")}
        missing = [s for s in TEXT_CORPUS_SPLITS if s not in found]
        return (None, f"the save_to_disk folder has no {' or '.join(missing)} split") if missing else (found, None)
    found = {}
    for split, names in TEXT_CORPUS_SPLITS.items():
        candidates = [n + suffix for n in names for suffix in TEXT_CORPUS_SUFFIXES]
        candidates += [naming.format(n) for naming in TEXT_NAMINGS for n in names if naming != "{}.txt"]
        match = next((c for c in candidates if c in files), None)
        if match is None:
            return None, (f"no {split} split: expected {SAVE_TO_DISK} (save_to_disk), {names[0]}.txt, .parquet, "
                          f".jsonl or .json, or {TEXT_NAMINGS[0].format('train' if split == 'train' else 'valid')}")
        if files[match] is not None and files[match][0] == 0:
            return None, f"{match} is empty"
        found[split] = match
    return found, None


def check_text_corpus(files, root):
    return text_corpus_files(files)[1]
