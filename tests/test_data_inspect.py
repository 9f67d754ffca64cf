"""`nowrongturns data check`'s inspection (nowrongturns/datasets/inspect.py): tiny folders in each data set's real
on-disk form, their exact counts, and problems that name the file or folder at fault."""
from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nowrongturns.datasets import inspect
from nowrongturns.datasets.inspect import DATASETS_INSPECTED, inspect_folder


def _png(path, size=4):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), (10, 20, 30)).save(path)


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _only(problems, *words):
    """The one problem line holding all of words."""
    found = [p for p in problems if all(w in p for w in words)]
    assert len(found) == 1, (words, problems)
    return found[0]


# -- every data set -------------------------------------------------------------------------------------------
def test_an_unknown_dataset_is_a_value_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="'mnist'.*cifar10"):
        inspect_folder("mnist", tmp_path)


@pytest.mark.parametrize("dataset", DATASETS_INSPECTED)
def test_a_missing_folder_is_a_problem_not_an_exception(tmp_path, dataset):
    found = inspect_folder(dataset, tmp_path / "nowhere")
    assert not found.ok and found.counts == []
    assert found.problems == [f"{tmp_path / 'nowhere'}: no such folder"]


def test_the_report_names_the_dataset_and_folder_then_counts_then_problems(tmp_path):
    report = inspect.Inspection("ptb", "/data/ptb", ["train: 3 lines"], ["ptb.test.txt: empty file"]).report()
    assert report.splitlines() == ["ptb data in /data/ptb", "  train: 3 lines", "problems:",
                                   "  - ptb.test.txt: empty file"]
    clean = inspect.Inspection("ptb", "/data/ptb", ["train: 3 lines"], [])
    assert clean.ok and clean.report().splitlines()[-1].startswith("no problems found")


def test_the_module_imports_without_torch():
    code = "import sys, nowrongturns.datasets.inspect; assert not [m for m in sys.modules if m.startswith('torch')]"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_constants_repeated_from_torch_loaders_equal_theirs():
    from nowrongturns.tasks.loaders import cifar10, vaihingen

    assert inspect.CIFAR_CLASSES == cifar10.CLASSES
    assert (inspect.VAIHINGEN_TRAIN_IDS, inspect.VAIHINGEN_VAL_IDS, inspect.VAIHINGEN_TEST_IDS) == (
        vaihingen.TRAIN_IDS, vaihingen.VAL_IDS, vaihingen.TEST_IDS)
    assert (inspect.VAIHINGEN_TILE, inspect.VAIHINGEN_SUFFIXES) == (vaihingen.TILE_NAME, vaihingen.SUFFIXES)


# -- ImageNet -------------------------------------------------------------------------------------------------
def test_imagenet_counts_classes_and_images_per_split(tmp_path):
    for split in ("train", "val"):
        for c in range(1000):
            _touch(tmp_path / split / f"n{c:08d}" / f"{c}_{split}.JPEG")
    _touch(tmp_path / "train/n00000007/extra_0.jpg")  # one class with 3 images, the suffixes in either case
    _touch(tmp_path / "train/n00000007/extra_1.PNG")
    _touch(tmp_path / "train/n00000007/notes.txt")  # not an image: not counted
    found = inspect_folder("imagenet", tmp_path)
    assert found.counts == ["train: 1,000 classes (ImageNet-1K has 1,000), 1,002 images (1..3 per class)",
                            "val: 1,000 classes (ImageNet-1K has 1,000), 1,000 images (1..1 per class)"]
    assert found.ok and found.problems == []


def test_imagenet_problems_name_their_files_and_folders(tmp_path):
    for wnid in ("n01440764", "n01443537"):
        _touch(tmp_path / f"train/{wnid}/a.JPEG")
        _touch(tmp_path / f"val/{wnid}/b.JPEG")
    for i in range(3):
        _touch(tmp_path / f"val/ILSVRC2012_val_{i:08d}.JPEG")  # the flat validation folder, not yet sorted
    for i in range(7):
        (tmp_path / f"train/n0200000{i}").mkdir()  # empty class folders
    _touch(tmp_path / "train/n01440764/broken.JPEG", b"")
    _touch(tmp_path / "train/tench/c.png")
    _touch(tmp_path / "val/n09999999/d.JPEG")  # a class train/ lacks
    found = inspect_folder("imagenet", tmp_path)
    assert not found.ok and len(found.problems) == 5
    assert found.counts[0] == "train: 10 classes (ImageNet-1K has 1,000), 4 images (0..2 per class)"
    assert "val/ILSVRC2012_val_00000000.JPEG and 2 more images lie in val/ itself" in _only(found.problems, "lie in")
    assert _only(found.problems, "no images").endswith(
        "train/n02000000/, train/n02000001/, train/n02000002/, train/n02000003/, train/n02000004/ and 2 more")
    assert _only(found.problems, "zero-byte").endswith("train/n01440764/broken.JPEG")
    assert _only(found.problems, "WordNet").endswith(": train/tench/")
    assert _only(found.problems, "the loader refuses").endswith(": val/n09999999/")


def test_imagenet_without_val_says_what_is_expected(tmp_path):
    _touch(tmp_path / "train/n01440764/a.JPEG")
    found = inspect_folder("imagenet", tmp_path)
    assert found.problems == [("val/: missing; expected val/<wnid>/*.JPEG, ImageNet-1K's 1,000 class folders "
                               "named by WordNet id")]


# -- CIFAR-10 -------------------------------------------------------------------------------------------------
def _batch(n):
    return {b"data": np.zeros((n, 3072), np.uint8), b"labels": [i % 10 for i in range(n)]}


def _write_batches(folder, train=200, test=300):
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(_batch(test if name == "test_batch" else train), protocol=2))
    meta = {b"label_names": [c.encode() for c in inspect.CIFAR_CLASSES]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))


def test_cifar_python_batches_are_unpickled_and_counted(tmp_path):
    _write_batches(tmp_path / "cifar-10-batches-py")
    found = inspect_folder("cifar10", tmp_path)
    assert found.counts == ["form: the official python batches in cifar-10-batches-py/",
                            "train: 1,000 images from 5 of 5 batches (CIFAR-10 has 50,000)",
                            "test: 300 images from 1 of 1 batches (CIFAR-10 has 10,000)"]
    assert found.ok


def test_cifar_python_batches_that_are_missing_or_malformed_are_named(tmp_path):
    _write_batches(tmp_path)  # the batches in the folder itself
    (tmp_path / "data_batch_2").unlink()
    (tmp_path / "data_batch_3").write_bytes(b"not a pickle")
    (tmp_path / "data_batch_4").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2))
    (tmp_path / "test_batch").write_bytes(pickle.dumps(_batch(5) | {b"data": np.zeros((5, 100), np.uint8)}))
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"apple", b"fish"]}))
    found = inspect_folder("cifar10", tmp_path)
    assert found.counts[1:] == ["train: 400 images from 2 of 5 batches (CIFAR-10 has 50,000)",
                                "test: 0 images from 0 of 1 batches (CIFAR-10 has 10,000)"]
    assert len(found.problems) == 5
    assert _only(found.problems, "missing") == "missing batches: data_batch_2"
    assert _only(found.problems, "data_batch_3: not a readable pickle")
    assert _only(found.problems, "data_batch_4: holds keys [\"b'data'\"]")
    assert _only(found.problems, "test_batch: data is uint8 [5, 100] with 5 labels")
    assert _only(found.problems, "batches.meta: label_names ['apple', 'fish']")


def test_cifar_image_folders_are_counted(tmp_path):
    for split, n in (("train", 3), ("test", 1)):
        for c in ("airplane", "truck"):
            for i in range(n):
                _png(tmp_path / split / c / f"{i}.png", 32)
    found = inspect_folder("cifar10", tmp_path)
    assert found.counts == ["form: an image-folder export, train/<class>/ and test/<class>/",
                            "train: 2 classes (CIFAR-10 has 10), 6 images (3..3 per class)",
                            "test: 2 classes (CIFAR-10 has 10), 2 images (1..1 per class)"]
    assert found.ok


def test_cifar_image_folders_with_unknown_classes_or_no_test_split(tmp_path):
    _png(tmp_path / "train/airplane/0.png", 32)
    _png(tmp_path / "train/aeroplane/0.png", 32)
    found = inspect_folder("cifar10", tmp_path)
    assert len(found.problems) == 2
    assert _only(found.problems, "not among CIFAR-10's classes").endswith(": train/aeroplane/")
    assert _only(found.problems, "test/: missing")


def test_a_cifar_folder_of_neither_form(tmp_path):
    _touch(tmp_path / "cifar-10-python.tar.gz")
    found = inspect_folder("cifar10", tmp_path)
    assert found.problems == [(f"{tmp_path}: holds neither cifar-10-batches-py/{{data_batch_1..5, test_batch, "
                               f"batches.meta}} nor train/<class>/*.png and test/<class>/*.png image folders")]


# -- Vaihingen ------------------------------------------------------------------------------------------------
def _vaihingen(root):
    fitted = inspect.VAIHINGEN_TRAIN_IDS + inspect.VAIHINGEN_VAL_IDS
    for i in fitted + inspect.VAIHINGEN_TEST_IDS:
        _touch(root / f"top/top_mosaic_09cm_area{i}.tif")
    for i in fitted:
        _touch(root / f"gts_for_participants/top_mosaic_09cm_area{i}.tif")


def test_vaihingen_counts_tiles_and_ground_truth(tmp_path):
    _vaihingen(tmp_path)
    found = inspect_folder("vaihingen", tmp_path)
    assert found.counts == [
        "top/: 33 tiles (11 of 11 train, 5 of 5 val, 17 of 17 test)",
        "gts_for_participants/: 16 ground-truth files (11 of 11 train, 5 of 5 val)",
        "test ground truth: 0 of 17 (published separately, in ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE/)"]
    assert found.ok
    for i in inspect.VAIHINGEN_TEST_IDS:  # the complete ground truth, where it is unpacked beside them
        _png(tmp_path / f"ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE/top_mosaic_09cm_area{i}.png")
    found = inspect_folder("vaihingen", tmp_path)
    assert found.counts[-1] == "test ground truth: 17 of 17 in ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE/"


def test_vaihingen_missing_and_empty_files_are_named(tmp_path):
    _vaihingen(tmp_path)
    (tmp_path / "top/top_mosaic_09cm_area11.tif").unlink()
    (tmp_path / "top/top_mosaic_09cm_area2.tif").unlink()  # a test tile: counted, not a problem
    (tmp_path / "gts_for_participants/top_mosaic_09cm_area3.tif").rename(
        tmp_path / "gts_for_participants/top_mosaic_09cm_area3.png")  # .png is read too
    (tmp_path / "gts_for_participants/top_mosaic_09cm_area37.tif").unlink()
    (tmp_path / "gts_for_participants/top_mosaic_09cm_area5.tif").write_bytes(b"")
    found = inspect_folder("vaihingen", tmp_path)
    assert found.counts[:2] == ["top/: 31 tiles (11 of 11 train, 4 of 5 val, 16 of 17 test)",
                                "gts_for_participants/: 15 ground-truth files (10 of 11 train, 5 of 5 val)"]
    assert found.problems == [
        "missing tiles of train and validation areas (nor as .png): top/top_mosaic_09cm_area11.tif",
        ("missing ground-truth files of train and validation areas (nor as .png): "
         "gts_for_participants/top_mosaic_09cm_area37.tif"),
        "zero-byte files: gts_for_participants/top_mosaic_09cm_area5.tif"]


def test_vaihingen_without_top(tmp_path):
    _touch(tmp_path / "gts_for_participants/top_mosaic_09cm_area1.tif")
    found = inspect_folder("vaihingen", tmp_path)
    assert found.problems[0] == ("top/: missing; expected the train and validation tiles, "
                                 "top/top_mosaic_09cm_area<N>.tif (or .png)")


# -- WikiText-2 and Penn Treebank -----------------------------------------------------------------------------
def test_wikitext2_lines_and_tokens_per_split(tmp_path):
    (tmp_path / "wiki.train.tokens").write_text(" = Valkyria = \n\n" + "a b <unk> ,\n" * 1200, encoding="utf8")
    (tmp_path / "wiki.valid.tokens").write_text("é ü\n", encoding="utf8")
    (tmp_path / "wiki.test.tokens").write_text("one\ntwo three", encoding="utf8")
    (tmp_path / "train.txt").write_text("another naming, found later: not read\n")
    found = inspect_folder("wikitext2", tmp_path)
    assert found.counts == ["train: 1,202 lines, 4,803 tokens (wiki.train.tokens)",
                            "valid: 1 line, 2 tokens (wiki.valid.tokens)",
                            "test: 2 lines, 3 tokens (wiki.test.tokens)"]
    assert found.ok


def test_ptb_missing_empty_blank_and_non_utf8_files_are_named(tmp_path):
    (tmp_path / "ptb.train.txt").write_bytes(b"ok line\n\xff\xfe latin-1 \xe9\n")
    (tmp_path / "ptb.valid.txt").write_text("\n\n\n")
    found = inspect_folder("ptb", tmp_path)
    assert found.counts == ["valid: 3 lines, 0 tokens (ptb.valid.txt)"]
    assert found.problems == ["missing ptb.test.txt (found ptb.train.txt)",
                              "ptb.train.txt: not UTF-8 text (line 2)",
                              "ptb.valid.txt: holds no tokens (3 blank lines)"]
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text("" if split == "test" else "w\n")
    (tmp_path / "ptb.train.txt").unlink()  # the example's own naming is read next
    assert inspect_folder("ptb", tmp_path).problems == ["test.txt: empty file"]


def test_a_text_folder_with_no_known_naming(tmp_path):
    (tmp_path / "wiki.train.txt").write_text("w\n")
    assert inspect_folder("wikitext2", tmp_path).problems == [
        f"{tmp_path}: holds none of wiki.train.tokens, ptb.train.txt, train.txt"]


# -- your images: image_folder --------------------------------------------------------------------------------
def test_image_folder_counts_images_at_any_depth(tmp_path):
    for split, n in (("train", 2), ("val", 1)):
        for c in ("cat", "dog"):
            for i in range(n):
                _png(tmp_path / split / c / f"{i}.png")
    _png(tmp_path / "train/cat/more/deep.jpg")
    _png(tmp_path / "train/cat/.hidden.png")  # hidden: skipped, as the loader skips it
    found = inspect_folder("image_folder", tmp_path)
    assert found.counts == ["train: 2 classes, 5 images (2..3 per class)", "val: 2 classes, 2 images (1..1 per class)"]
    assert found.ok


def test_image_folder_problems_are_the_start_up_checks(tmp_path):
    _png(tmp_path / "train/cat/0.png")
    (tmp_path / "train/dog").mkdir()
    found = inspect_folder("image_folder", tmp_path)
    assert found.counts == ["train: 2 classes, 1 image (0..1 per class)"]
    assert found.problems == ["class folder train/dog/ holds no images (.png, .jpg or .jpeg)",
                              "no val/ folder (expected val/<class>/*.png|jpg|jpeg)"]
    _png(tmp_path / "train/dog/0.png")
    _png(tmp_path / "val/cow/0.png")
    assert inspect_folder("image_folder", tmp_path).problems == [
        "train/ and val/ hold different classes (train/ only: cat, dog; val/ only: cow)"]
