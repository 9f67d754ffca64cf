"""The paper's data sets through the training loop: every task trains, replays exactly, and the
CIFAR-10 device-resident and DataLoader paths give the same trajectory."""
import pytest
import torch

from nowrongturns.full_batch import MODES, full_batch_gradient
from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.train.engine import Trainer

from .test_loaders import write_cifar_batches, write_imagenet, write_vaihingen


def _full_batch(trainer):
    for mode in MODES:
        fb = full_batch_gradient(trainer, mode)
        assert torch.isfinite(fb.grad).all() and fb.grad.abs().sum() > 0 and fb.loss > 0, mode
        if mode != "eval":  # the noise's share of E‖G‖² is a share, by Jensen's inequality on one partition
            noise_share = 1 - float(fb.grad @ fb.grad) / fb.minibatch_g_sq
            assert 0 <= noise_share <= 1, (mode, noise_share)


def _reference_and_replay(settings, epochs=2):
    """Train, then replay with the recorder and full-batch gradients (every mode) at every epoch's
    start: the replay must end on the reference's w* exactly."""
    ref = Trainer(settings, "ref")
    ref.train(epochs, evaluate=True)
    w_star = ref.flat.data.clone()
    replay = Trainer(settings, "ref")
    rec = GeometryRecorder(replay.flat, w_star, epochs * replay.steps_per_epoch, settings["weight_decay"])
    _full_batch(replay)
    replay.train(epochs, recorder=rec, on_epoch_end=_full_batch)
    assert torch.equal(replay.flat.data, w_star)
    sums = rec.sums()
    assert torch.isfinite(torch.from_numpy(sums)).all()
    return ref


def test_cifar_device_and_loader_paths_give_the_same_trajectory(tmp_path, make_settings):
    write_cifar_batches(tmp_path / "cifar-10-batches-py", n=12)
    base = make_settings(dataset="cifar10", data_dir=str(tmp_path), model="medium_mlp", width=32,
                         optimizer="momentum", lr=0.01, batch_size=8, epochs=2)
    device = Trainer(base, "a")
    device.train(2)
    loader = Trainer({**base, "data_path": "loader", "num_workers": 2}, "a")
    loader.train(2)
    assert device.steps_per_epoch == 6  # 60 images, 20% held out for validation as in the paper's code, batches of 8
    assert torch.equal(device.flat.data, loader.flat.data)


def test_cifar_crops_of_an_epoch_are_the_per_step_draws(tmp_path, make_settings):
    # The epoch's crop offsets reach the device in one copy; each step's are still drawn from its own
    # (seed, epoch, step) generator, so trajectories recorded before stay the same.
    from nowrongturns.tasks.loaders import cifar10

    write_cifar_batches(tmp_path / "cifar-10-batches-py", n=12)
    s = make_settings(dataset="cifar10", data_dir=str(tmp_path), model="medium_mlp", width=8, batch_size=8, seed=3)
    task = Trainer(s, "a").task
    _, offsets = task.plan(2)
    assert offsets.shape == (task.steps_per_epoch, 8, 2)
    for step in range(task.steps_per_epoch):
        assert torch.equal(offsets[step], cifar10.crop_flip_draws(8, 3, 2, step)[0])


def test_cifar_resnet18_trains_and_replays_exactly(tmp_path, make_settings):
    write_cifar_batches(tmp_path / "cifar-10-batches-py", n=8)
    s = make_settings(dataset="cifar10", data_dir=str(tmp_path), model="cifar_resnet18", width_multiplier=1,
                      optimizer="momentum", lr=0.01, weight_decay=1e-6, batch_size=12, epochs=1)
    ref = _reference_and_replay(s, epochs=1)
    assert ref.flat.numel == 11_173_962
    assert 0.0 <= ref.history[-1]["val_acc"] <= 1.0


def test_imagenet_resnet_trains_and_replays_exactly(tmp_path, make_settings):
    write_imagenet(tmp_path, per_class=4)
    s = make_settings(dataset="imagenet", data_dir=str(tmp_path), model="resnet18", width_multiplier=0.5,
                      crop_size=16, optimizer="momentum", lr=0.01, batch_size=4, epochs=2, num_workers=0,
                      schedule="cosine", warmup_epochs=1, eval_batch_size=4)
    ref = _reference_and_replay(s)
    assert "val_acc" in ref.history[-1]


def test_imagenet_takes_a_timm_model_and_replays_exactly(tmp_path, make_settings):
    pytest.importorskip("timm", reason="needs the timm extra: pip install -e '.[timm]'")
    write_imagenet(tmp_path, per_class=4)
    s = make_settings(dataset="imagenet", data_dir=str(tmp_path), model="timm:vit_small_patch16_224", crop_size=16,
                      model_args={"img_size": 16, "patch_size": 8, "depth": 1, "embed_dim": 16, "num_heads": 2},
                      optimizer="adamw", lr=1e-3, batch_size=4, epochs=2, schedule="cosine", warmup_epochs=1,
                      eval_batch_size=4)
    ref = _reference_and_replay(s)
    assert type(ref.model).__name__ == "VisionTransformer" and ref.model.head.out_features == 3  # 3 class folders
    assert "val_acc" in ref.history[-1]


def write_text_corpus(root):
    """A tiny WikiText-2-format corpus: wiki.{train,valid,test}.tokens."""
    root.mkdir(parents=True, exist_ok=True)
    words = ["the", "cat", "sat", "on", "the", "mat", "and", "the", "dog", "ate", "the", "cat", "food", "while", "it", "rained"]
    for split, n in (("train", 120), ("valid", 30), ("test", 30)):
        lines = [" ".join(words[(i * 7) % len(words):] + words[:(i * 7) % len(words)]) for i in range(n // 10)]
        (root / f"wiki.{split}.tokens").write_text("\n".join(lines) + "\n")


def test_transformer_lm_trains_and_replays_exactly(tmp_path, make_settings):
    write_text_corpus(tmp_path)
    s = make_settings(dataset="wikitext2", data_dir=str(tmp_path), model="transformer_lm", emsize=16, nhead=2,
                      nhid=16, nlayers=2, dropout=0.2, bptt=5, batch_size=4, optimizer="adam", lr=1e-3,
                      weight_decay=1e-5, grad_clip=0.25, epochs=2)
    ref = _reference_and_replay(s)
    assert ref.history[-1]["val_ppl"] > 1.0


@pytest.mark.parametrize("model", ["unet", "segnet"])
def test_segmentation_trains_and_replays_exactly(tmp_path, make_settings, model):
    from nowrongturns.tasks.loaders import vaihingen

    write_vaihingen(tmp_path, vaihingen.TRAIN_IDS + vaihingen.VAL_IDS, size=(40, 44))
    s = make_settings(dataset="vaihingen", data_dir=str(tmp_path), model=model, width_multiplier=0.5,
                      patch_size=32, patches_per_epoch=4, val_patches=4, batch_size=2, optimizer="momentum",
                      lr=0.01, weight_decay=1e-5, final_low_lr_epoch=True, epochs=2, eval_batch_size=2)
    ref = _reference_and_replay(s)
    assert 0.0 <= ref.history[-1]["val_pixel_acc"] <= 1.0
