"""Does a data folder hold what its loader reads? Checked on the fingerprint's file list when
Snakemake starts, before any job: a wrong path or an empty file fails in seconds, not hours in.

The loaders (nowrongturns/tasks/loaders/) check the content itself when they read it.
"""
from __future__ import annotations

from nowrongturns.config.layouts import CIFAR_BATCHES, IMAGE_SUFFIXES, TEXT_NAMINGS, TEXT_SPLITS, VAIHINGEN_TOP
from nowrongturns.config.registry import DATASETS, load_object


class DataLayoutError(ValueError):
    """A data folder lacks a file its loader needs."""


def _under(files: dict, prefix: str, suffixes=None) -> bool:
    return any(n.startswith(prefix) and (suffixes is None or n.lower().endswith(suffixes)) for n in files)


def check_layout(dataset: str, root: str, files: dict) -> None:
    """files: {relative name: [size, ...]} as the fingerprint lists them; the data set's registry row
    names its check."""
    check = DATASETS[dataset].check
    if check is not None:
        problem = load_object(check)(files)
        if problem:
            raise DataLayoutError(f"{dataset} data in {root}: {problem}")


# Each check: the problem with a folder's file list, or None.
def check_cifar10(files):
    for prefix in ("cifar-10-batches-py/", ""):
        if any(prefix + b in files for b in CIFAR_BATCHES):
            missing = [prefix + b for b in CIFAR_BATCHES if prefix + b not in files]
            return f"missing {', '.join(missing)}" if missing else None
    if _under(files, "train/", IMAGE_SUFFIXES) and _under(files, "test/", IMAGE_SUFFIXES):
        return None
    return ("found neither cifar-10-batches-py/{data_batch_1..5, test_batch} nor train/<class>/*.png and "
            "test/<class>/*.png image folders")


def check_imagenet(files):
    missing = [s for s in ("train", "val") if not _under(files, f"{s}/", (".jpeg", ".jpg", ".png"))]
    return f"no images in {' or '.join(f'{s}/<wnid>/' for s in missing)}" if missing else None


def check_text(files):
    for naming in TEXT_NAMINGS:
        names = {s: naming.format(s) for s in TEXT_SPLITS}
        if names["train"] in files:
            missing = [n for n in names.values() if n not in files]
            if missing:
                return f"missing {', '.join(missing)} (found {names['train']})"
            empty = [n for n in names.values() if files[n][0] == 0]
            return f"{', '.join(empty)} holds no tokens (empty file)" if empty else None
    return "found none of " + ", ".join(n.format("train") for n in TEXT_NAMINGS)


def check_vaihingen(files):
    if not _under(files, VAIHINGEN_TOP + "/", (".tif", ".png")):
        return f"no tiles in {VAIHINGEN_TOP}/ (expected {VAIHINGEN_TOP}/top_mosaic_09cm_area<N>.tif)"
    return None

