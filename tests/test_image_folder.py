"""dataset: image_folder and model: timm:<name>: the loader, the seeded random resized crop, the errors before any
job. examples/vit_image_folder.yaml runs end to end in test_examples.py."""
import importlib.util
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch.nn import functional as F

from nowrongturns.config import ConfigError, load
from nowrongturns.config.registry import build_task
from nowrongturns.config.settings import RunSettings
from nowrongturns.tasks.loaders import image_folder as images
from nowrongturns.tasks.loaders.decoded_cache import decoded_once

from .conftest import ROOT, example_module

make_shapes = example_module("make_shapes")
EXAMPLE = ROOT / "examples/vit_image_folder.yaml"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes.write_shapes(tmp_path_factory.mktemp("shapes"), train=4, val=2)


# -- the loader and the augmentation -------------------------------------------------------------------
def test_the_folder_decodes_to_sorted_classes_and_stored_squares(shapes):
    found = images.load_image_folder(shapes, image_size=32)
    side = images.stored_size(32)
    assert side == 37 and found.classes == ["circle", "square", "triangle"]  # sorted, as ImageFolder sorts
    assert found.x_train.shape == (12, 3, side, side) and found.x_train.dtype == torch.uint8
    assert found.y_train.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and found.x_val.shape[0] == 6
    # Resize the shorter side, then center-crop the square: PIL's own fit, on the first file.
    with Image.open(shapes / "train/circle/circle_0000.png") as im:
        expected = np.asarray(im.convert("RGB").resize((side, side), Image.Resampling.BILINEAR))
    assert np.array_equal(found.x_train[0].permute(1, 2, 0).numpy(), expected)  # the make_shapes images are square
    mean, std = images.channel_stats(found.x_train)
    pixels = found.x_train.double().div(255).transpose(0, 1).reshape(3, -1)
    assert np.allclose(mean, pixels.mean(1)) and np.allclose(std, pixels.std(1, correction=0))


def test_data_is_decoded_once_per_content_and_a_damaged_copy_decoded_again(tmp_path, caplog):
    decodes = []

    def decode():
        decodes.append(1)
        return {"x": torch.arange(6, dtype=torch.uint8), "mean": (0.5, 0.25), "classes": ["a", "b"]}

    key = {"fingerprint": "f" * 64, "side": 37}
    first = decoded_once(str(tmp_path), "image_folder", key, decode)
    (kept,) = tmp_path.glob("image_folder-*.pt")
    again = decoded_once(str(tmp_path), "image_folder", key, decode)
    assert len(decodes) == 1 and torch.equal(again["x"], first["x"]) and again["mean"] == (0.5, 0.25)
    decoded_once(str(tmp_path), "image_folder", {**key, "side": 38}, decode)  # another decoding: its own file
    assert len(decodes) == 2 and len(list(tmp_path.glob("*.pt"))) == 2
    kept.write_bytes(kept.read_bytes()[:-40])  # a truncated copy
    assert decoded_once(str(tmp_path), "image_folder", key, decode)["classes"] == ["a", "b"] and len(decodes) == 3
    assert "decoding the data again" in caplog.text
    for no_cache in [(None, key), (str(tmp_path), {**key, "fingerprint": "unread"})]:
        decoded_once(no_cache[0], "image_folder", no_cache[1], decode)
    assert len(decodes) == 5 and len(list(tmp_path.glob("*.pt"))) == 2


def test_jobs_that_start_together_wait_for_the_first_to_decode(tmp_path):
    decodes = []

    def slow_decode():
        decodes.append(1)
        time.sleep(0.5)
        return {"x": torch.arange(3)}

    with ThreadPoolExecutor(3) as pool:  # flock excludes each open() of the lock file, threads included
        results = list(pool.map(lambda _: decoded_once(str(tmp_path), "text", {"fingerprint": "f"}, slow_decode),
                                range(3)))
    assert len(decodes) == 1 and all(torch.equal(r["x"], torch.arange(3)) for r in results)


def test_the_first_task_on_a_folder_decodes_it_and_the_next_reads_what_it_kept(tmp_path, shapes, monkeypatch):
    pytest.importorskip("timm", reason="needs the timm extra: pip install -e '.[timm]'")
    base = yaml.safe_load(EXAMPLE.read_text())["studies"]["vit"]["base"]
    run = RunSettings.from_dict({**base, "data_dir": str(shapes), "data_fingerprint": "f" * 64, "device": "cpu",
                                 "data_cache": str(tmp_path)})
    first = build_task(run, torch.device("cpu"), torch.float32)
    monkeypatch.setattr(images, "load_image_folder", lambda *a, **kw: pytest.fail("decoded the folder again"))
    second = build_task(run, torch.device("cpu"), torch.float32)
    assert second.classes == first.classes == ["circle", "square", "triangle"]
    for name in ("x_train", "y_train", "x_val", "y_val", "mean", "std"):
        assert torch.equal(getattr(second, name), getattr(first, name)), name
    stats = images.channel_stats(first.x_train)
    assert torch.equal(first.mean.flatten(), torch.tensor(stats[0], dtype=torch.float32))


def test_crop_draws_are_a_function_of_seed_epoch_and_step_within_torchvisions_bounds():
    boxes, flips = images.crop_draws(4000, 37, seed=3, epoch=1, step=2)
    again = images.crop_draws(4000, 37, seed=3, epoch=1, step=2)
    assert torch.equal(boxes, again[0]) and torch.equal(flips, again[1])
    assert not torch.equal(boxes, images.crop_draws(4000, 37, seed=3, epoch=1, step=3)[0])
    top, left, h, w = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 37).all() and (left + w <= 37).all()
    area = (h * w).double() / 37**2
    assert area.min() >= 0.05 and area.max() <= 1  # 8% up to the whole square, before rounding to pixels
    assert 0.45 < flips.double().mean() < 0.55
    epoch_boxes, epoch_flips = images.epoch_crop_draws(5, 37, 3, 1, steps=3)
    step_boxes, step_flips = images.crop_draws(5, 37, 3, 1, 2)
    assert torch.equal(epoch_boxes[2], step_boxes) and torch.equal(epoch_flips[2], step_flips)


def test_resized_crop_is_a_crop_then_a_bilinear_resize():
    x = torch.rand(3, 3, 37, 37, dtype=torch.float64)
    whole = torch.tensor([[0, 0, 37, 37]] * 3)
    no, yes = torch.zeros(3, dtype=torch.bool), torch.ones(3, dtype=torch.bool)
    resized = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    assert torch.allclose(images.resized_crop(x, whole, no, 32), resized)
    assert torch.allclose(images.resized_crop(x, whole, yes, 32), resized.flip(3))
    box = torch.tensor([[2, 5, 32, 32], [0, 0, 32, 32], [5, 1, 32, 32]])  # no resize: exactly the pixels
    out = images.resized_crop(x, box, no, 32)
    for i, (t, left, _, _) in enumerate(box.tolist()):
        assert torch.allclose(out[i], x[i, :, t:t + 32, left:left + 32])


# -- bad input, before any job --------------------------------------------------------------------------
def config(results, data_dir, **base) -> dict:
    cfg = yaml.safe_load(EXAMPLE.read_text())
    cfg["results"] = str(results)
    cfg["studies"]["vit"]["base"].update(data_dir=str(data_dir), **base)
    del cfg["studies"]["vit"]["overrides"]  # one run: errors name studies.vit.base
    return cfg


def spoil(root, how):
    if how == "empty class":
        shutil.rmtree(root / "val/square")
        (root / "val/square").mkdir()
    elif how == "classes differ":
        shutil.move(root / "val/square", root / "val/squares")
    elif how == "no classes":
        shutil.rmtree(root / "train")
        (root / "train").mkdir()
    elif how == "loose image":
        shutil.copy(root / "train/circle/circle_0000.png", root / "train/stray.png")


@pytest.mark.parametrize("how, message", [
    ("empty class", r"class folder val/square/ holds no images"),
    ("classes differ", r"train/ and val/ hold different classes \(train/ only: square; val/ only: squares\)"),
    ("no classes", r"train/ holds no class folders"),
    ("loose image", r"train/stray.png lies in train/ itself"),
])
def test_a_bad_image_folder_is_refused_before_any_job(tmp_path, shapes, how, message):
    root = shutil.copytree(shapes, tmp_path / "data")
    spoil(root, how)
    with pytest.raises(ConfigError, match=rf"studies.vit.*data_dir.*{message}"):
        load(config(tmp_path / "results", root))
    with pytest.raises(ValueError, match=message):  # and the loader says the same, were it reached
        images.load_image_folder(root, 32)


@pytest.mark.parametrize("base, key, message", [
    ({"model": "timm:vit_tiny_patch16"}, "model",
     "timm 1.0.31 has no model 'vit_tiny_patch16'; did you mean .*vit_tiny_patch16_224"),
    ({"model": "timm:resnet18", "model_args": {"img_size": 32}}, "model_args",
     "timm could not build resnet18 with these arguments: TypeError: .*img_size"),
    ({"model_args": {"pretrained": True}}, "model_args", "weights come from init_from"),
    ({"model": "resnet9000"}, "model", "expected one of mlp, .*, or timm:<name>"),
    ({"model": "mlp"}, "model", "dataset 'image_folder' takes model timm:<name>"),
])
def test_a_bad_timm_model_is_refused_before_any_job(tmp_path, shapes, base, key, message):
    pytest.importorskip("timm", reason="needs the timm extra: pip install -e '.[timm]'")
    with pytest.raises(ConfigError, match=rf"config key studies.vit.base.{key} = .*{message}"):
        load(config(tmp_path / "results", shapes, **base))


def test_a_missing_extra_says_which_install_fixes_it(tmp_path, shapes, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "timm" else real(name, *a))
    with pytest.raises(ConfigError, match=r"studies.vit.base.model = 'timm:vit_tiny_patch16_224': needs timm, "
                                          r"which is not installed; pip install 'nowrongturns\[timm\]'"):
        load(config(tmp_path / "results", shapes))
