"""Data-set loaders on tiny fixtures written in each data set's real on-disk format."""
import hashlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from nowrongturns.tasks.loaders import cifar10, text, vaihingen
from nowrongturns.tasks.loaders.imagenet import ImageNet, make_loader

from .conftest import ROOT

WNIDS = ("n01440764", "n01443537", "n01484850")


def _sha(*tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- CIFAR-10

def write_cifar_batches(folder, n=6, seed=0):
    """The official python version: Python-2-style pickles with bytes keys."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"batch_label": name.encode(), b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"labels": rng.integers(0, 10, n).tolist(), b"filenames": [b"x.png"] * n}
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
        batches[name] = d
    meta = {b"label_names": [c.encode() for c in cifar10.CLASSES], b"num_cases_per_batch": n, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


@pytest.mark.parametrize("nested", [True, False])
def test_cifar_pickle_batches(tmp_path, nested):
    batches = write_cifar_batches(tmp_path / "cifar-10-batches-py" if nested else tmp_path)
    d = cifar10.load_cifar10(tmp_path)
    assert d["x_train"].shape == (30, 3, 32, 32) and d["x_train"].dtype == torch.uint8
    assert d["x_test"].shape == (6, 3, 32, 32) and d["y_train"].dtype == torch.int64
    b2 = batches["data_batch_2"]
    # row 0 of batch 2 is sample 6; its 3072 bytes are the red, green, blue planes, row-major
    assert torch.equal(d["x_train"][6], torch.from_numpy(b2[b"data"][0].reshape(3, 32, 32)))
    assert d["y_train"][6:12].tolist() == b2[b"labels"]
    assert d["y_test"].tolist() == batches["test_batch"][b"labels"]


def test_cifar_image_folders(tmp_path):
    rng = np.random.default_rng(1)
    written = {}
    for split, suffix in (("train", ".png"), ("test", ".jpg")):
        for c in ("truck", "airplane", "cat"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(2):
                a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(a).save(tmp_path / split / c / f"{i}{suffix}")
                written[split, c, i] = a
    d = cifar10.load_cifar10(tmp_path)
    assert d["x_train"].shape == (6, 3, 32, 32) and d["x_test"].shape == (6, 3, 32, 32)
    # sorted folders: airplane (0), cat (3), truck (9)
    assert d["y_train"].tolist() == [0, 0, 3, 3, 9, 9] == d["y_test"].tolist()
    assert torch.equal(d["x_train"][4], torch.from_numpy(written["train", "truck", 0]).permute(2, 0, 1))  # PNG: exact


def test_cifar_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        cifar10.load_cifar10(tmp_path / "nowhere")
    bad = tmp_path / "bad"
    write_cifar_batches(bad)
    (bad / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        cifar10.load_cifar10(bad)
    (bad / "data_batch_3").write_bytes(b"\x80\x02}q\x00garbage")
    with pytest.raises(ValueError, match="data_batch_3.*not a readable pickle"):
        cifar10.load_cifar10(bad)
    (bad / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"data_batch_3.*\[2, 100\].*uint8 \[N, 3072\]"):
        cifar10.load_cifar10(bad)
    folders = tmp_path / "folders"
    for split in ("train", "test"):
        (folders / split / "unicorn").mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(folders / split / "unicorn" / "0.png")
    with pytest.raises(ValueError, match="unicorn"):
        cifar10.load_cifar10(folders)


def test_cifar_train_val_split_is_fixed_and_stratified():
    y = torch.arange(50_000) % 10
    train, val = cifar10.train_val_split(y)
    assert len(val) == 5000 and len(train) == 45_000
    assert torch.bincount(y[val]).tolist() == [500] * 10
    assert torch.equal(torch.sort(torch.cat([train, val])).values, torch.arange(50_000))
    assert torch.equal(val, cifar10.train_val_split(y)[1])
    assert not torch.equal(val, cifar10.train_val_split(y, split_seed=1)[1])
    y_odd = torch.tensor([0] * 7 + [1] * 3)
    assert len(cifar10.train_val_split(y_odd, val_size=5)[1]) == 5


def test_cifar_crop_flip():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    off, flips = cifar10.crop_flip_draws(8, seed=0, epoch=3, step=5)
    out = cifar10.random_crop_flip(x, off, flips)
    assert out.shape == x.shape and out.dtype == torch.uint8
    again = cifar10.crop_flip_draws(8, seed=0, epoch=3, step=5)
    assert torch.equal(off, again[0]) and torch.equal(flips, again[1])
    other = cifar10.crop_flip_draws(8, seed=0, epoch=4, step=5)
    assert not (torch.equal(off, other[0]) and torch.equal(flips, other[1]))
    centre = torch.full((8, 2), cifar10.PAD)
    no = torch.zeros(8, dtype=torch.bool)
    assert torch.equal(cifar10.random_crop_flip(x, centre, no), x)
    assert torch.equal(cifar10.random_crop_flip(x, centre, ~no), x.flip(3))
    corner = cifar10.random_crop_flip(x, torch.zeros(8, 2, dtype=torch.long), no)  # top-left: 4 black rows
    assert (corner[:, :, :4] == 0).all() and torch.equal(corner[:, :, 4:, 4:], x[:, :, :28, :28])
    z = cifar10.normalize(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))
    assert torch.allclose(z[0, :, 0, 0], (1 - torch.tensor(cifar10.MEAN)) / torch.tensor(cifar10.STD))


# ---------------------------------------------------------------- ImageNet

def write_imagenet(root, per_class=5):
    rng = np.random.default_rng(2)
    for split, n in (("train", per_class), ("val", 2)):
        for wnid in WNIDS:
            (root / split / wnid).mkdir(parents=True)
            for i in range(n):
                h, w = rng.integers(36, 64, 2)
                a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                Image.fromarray(a).save(root / split / wnid / f"{wnid}_{i}.JPEG", quality=90)
    return root


def _imagenet_batches(root, seed, epoch, num_workers, start_step=0):
    ds = ImageNet(root, "train", crop=32, resize=36)
    return [(x, y) for x, y in make_loader(ds, 4, seed, epoch, num_workers, start_step=start_step)]


def test_imagenet_items_and_epochs(tmp_path):
    root = write_imagenet(tmp_path)
    ds = ImageNet(root, "train", crop=32, resize=36)
    assert len(ds) == 15 and ds.classes == list(WNIDS)
    x, y = ds[(7, 123)]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and type(x) is torch.Tensor and y == 1
    assert torch.equal(x, ds[(7, 123)][0]) and not torch.equal(x, ds[(7, 124)][0])
    state = torch.get_rng_state()
    ds[(0, 1)]
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left as it was
    val = ImageNet(root, "val", crop=32, resize=36)
    assert len(val) == 6 and val[(5, 0)][0].shape == (3, 32, 32) and val[(5, 0)][1] == 2
    assert torch.equal(val[(5, 0)][0], val[(5, 99)][0])
    e0, e0b, e1 = (_imagenet_batches(root, 0, e, 0) for e in (0, 0, 1))
    assert len(e0) == 3 and e0[0][0].shape == (4, 3, 32, 32)  # 15 images, last partial batch dropped
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(e0, e0b, strict=True))
    assert not torch.equal(e0[0][0], e1[0][0])
    resumed = _imagenet_batches(root, 0, 0, 0, start_step=1)
    assert len(resumed) == 2 and all(torch.equal(a[0], b[0]) for a, b in zip(resumed, e0[1:], strict=True))


def test_imagenet_workers_give_identical_batches(tmp_path):
    root = write_imagenet(tmp_path)
    a, b = _imagenet_batches(root, 5, 2, 0), _imagenet_batches(root, 5, 2, 2)
    assert len(a) == len(b) == 3
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b, strict=True))


def test_imagenet_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImageNet(tmp_path / "nowhere")
    root = write_imagenet(tmp_path / "in")
    (root / "val" / "n99999999").mkdir()
    with pytest.raises(ValueError, match="n99999999"):
        ImageNet(root, "val")


# ---------------------------------------------------------------- WikiText-2 / PTB

def test_text_corpus_matches_word_language_model(tmp_path):
    (tmp_path / "wiki.train.tokens").write_text(" = Title = \n\n a b a \n")
    (tmp_path / "wiki.valid.tokens").write_text("b c\n")
    (tmp_path / "wiki.test.tokens").write_text("d\n")
    c = text.load_corpus(tmp_path)
    assert c.dictionary.idx2word == ["=", "Title", "<eos>", "a", "b", "c", "d"]
    assert c.train.tolist() == [0, 1, 0, 2, 2, 3, 4, 3, 2] and c.train.dtype == torch.int64
    assert c.valid.tolist() == [4, 5, 2] and c.test.tolist() == [6, 2]
    data = text.batchify(torch.arange(26), 4)
    assert data.shape == (6, 4) and data[:, 1].tolist() == list(range(6, 12))  # columns are contiguous streams
    x, y = text.get_batch(data, 0, 4)
    assert torch.equal(x, data[:4]) and torch.equal(y, data[1:5].reshape(-1))
    x, y = text.get_batch(data, 4, 4)  # the last window is shorter
    assert x.shape == (1, 4) and torch.equal(y, data[5])


def test_text_ptb_naming_and_missing_file(tmp_path):
    for s in ("train", "valid", "test"):
        (tmp_path / f"ptb.{s}.txt").write_text(f" {s} words\n")
    assert len(text.load_corpus(tmp_path).dictionary) == 5
    (tmp_path / "ptb.valid.txt").unlink()
    with pytest.raises(FileNotFoundError, match="ptb.valid.txt"):
        text.load_corpus(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="wiki.train.tokens"):
        text.load_corpus(tmp_path / "empty")


# ---------------------------------------------------------------- Vaihingen

def write_vaihingen(root, ids, size=(20, 26)):
    """Tiles whose red channel encodes the label (40 * label), so a patch's image and labels can be matched."""
    rng = np.random.default_rng(3)
    (root / "top").mkdir(parents=True)
    (root / "gts_for_participants").mkdir()
    labels = {}
    for k, i in enumerate(ids):
        lab = rng.integers(0, 6, size)
        img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        img[..., 0] = lab * 40
        gt = np.array(vaihingen.COLORS, dtype=np.uint8)[lab]
        name = vaihingen.TILE_NAME.format(i)
        if k % 2:
            Image.fromarray(img).save(root / "top" / f"{name}.png")
            Image.fromarray(gt).save(root / "gts_for_participants" / f"{name}.png")
        else:
            Image.fromarray(img).save(root / "top" / f"{name}.tif", compression="tiff_lzw")
            Image.fromarray(gt).save(root / "gts_for_participants" / f"{name}.tif")
        labels[i] = lab
    return labels


def test_vaihingen_split_lists():
    ids = vaihingen.TRAIN_IDS + vaihingen.VAL_IDS + vaihingen.TEST_IDS
    assert (len(vaihingen.TRAIN_IDS), len(vaihingen.VAL_IDS), len(vaihingen.TEST_IDS)) == (11, 5, 17)
    assert len(set(ids)) == 33
    public_gt = [1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37]
    assert sorted(vaihingen.TRAIN_IDS + vaihingen.VAL_IDS) == public_gt


def test_vaihingen_tiles_and_patches(tmp_path):
    labels = write_vaihingen(tmp_path, [1, 3, 11])
    tiles = vaihingen.load_tiles(tmp_path, [1, 3])
    assert tiles.images[1].shape == (3, 20, 26) and tiles.images[1].dtype == torch.uint8
    assert np.array_equal(tiles.labels[1].numpy(), labels[3])
    x, y = vaihingen.train_batch(tiles, seed=0, epoch=0, step=0, batch_size=16, patch=8)
    assert x.shape == (16, 3, 8, 8) and x.dtype == torch.float32 and y.shape == (16, 8, 8) and y.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1
    for seed, epoch, step in ((0, 0, 0), (0, 1, 0), (1, 0, 0), (0, 0, 1)):
        xb, yb = vaihingen.train_batch(tiles, seed, epoch, step, 16, patch=8)
        assert torch.equal(torch.round(xb[:, 0] * 255), yb.float() * 40)  # flips/mirrors hit image and labels alike
    assert torch.equal(x, vaihingen.train_batch(tiles, 0, 0, 0, 16, patch=8)[0])
    assert not torch.equal(x, vaihingen.train_batch(tiles, 0, 1, 0, 16, patch=8)[0])
    val = vaihingen.load_tiles(tmp_path, [11])
    v1, v2 = (list(vaihingen.val_batches(val, 4, patch=8, count=10)) for _ in range(2))
    assert [len(b[0]) for b in v1] == [4, 4, 2] and all(torch.equal(a[0], b[0]) for a, b in zip(v1, v2, strict=True))
    assert vaihingen.steps_per_epoch(10) == 1000


def test_vaihingen_errors(tmp_path):
    write_vaihingen(tmp_path, [1])
    with pytest.raises(FileNotFoundError, match="top_mosaic_09cm_area5"):
        vaihingen.load_tiles(tmp_path, [5])
    gt_path = tmp_path / "gts_for_participants" / "top_mosaic_09cm_area1.tif"
    gt = np.asarray(Image.open(gt_path)).copy()
    gt[0, :2] = 0
    gt[1, 0] = (10, 20, 30)
    Image.fromarray(gt).save(gt_path)
    with pytest.raises(ValueError, match=r"area1\.tif: 3 pixels .*\(0, 0, 0\) x2, \(10, 20, 30\) x1"):
        vaihingen.load_tiles(tmp_path, [1])


# ---------------------------------------------------------------- across processes

def _digest(imagenet_root, vaihingen_root) -> str:
    """A hash of one batch of each randomized loader; must not depend on the process computing it."""
    x = torch.arange(4 * 3 * 32 * 32, dtype=torch.int64).reshape(4, 3, 32, 32).to(torch.uint8)
    cifar = cifar10.random_crop_flip(x, *cifar10.crop_flip_draws(4, seed=7, epoch=2, step=3))
    (imnet, _), *_ = make_loader(ImageNet(imagenet_root, crop=32, resize=36), 4, seed=7, epoch=2, num_workers=0)
    tiles = vaihingen.load_tiles(vaihingen_root, [1, 3])
    return _sha(cifar, imnet, *vaihingen.train_batch(tiles, 7, 2, 3, 6, patch=8))


def test_same_batches_in_another_process(tmp_path):
    imagenet_root = write_imagenet(tmp_path / "imagenet")
    write_vaihingen(tmp_path / "vaihingen", [1, 3])
    torch.manual_seed(12345)  # this process's global RNG state must not matter
    here = _digest(imagenet_root, tmp_path / "vaihingen")
    args = f"{str(imagenet_root)!r}, {str(tmp_path / 'vaihingen')!r}"
    code = f"from tests.test_loaders import _digest; print(_digest({args}))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == here


def test_cifar_paper_split_matches_random_split_of_the_public_code():
    # The paper's code: random_split(train, [0.8 n, 0.2 n], generator=Generator().manual_seed(1)).
    train, val = cifar10.paper_split(50_000)
    ref_train, ref_val = torch.utils.data.random_split(range(50_000), [40_000, 10_000],
                                                       generator=torch.Generator().manual_seed(1))
    assert train.tolist() == list(ref_train.indices) and val.tolist() == list(ref_val.indices)
