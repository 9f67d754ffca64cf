"""The straight path: monotone on a convex quadratic (closed form), the largest bump, a real task end to end."""
import numpy as np
import pandas as pd
import pytest

from nowrongturns.reference import run_reference
from nowrongturns.straight_path import alphas, is_monotone, largest_bump, run_straight_path

from .quadratic import quadratic  # noqa: F401 (fixture)


def _reference(s, run, run_id):
    ref = run / "reference"
    run_reference(s, run_id, run, 2, ref / "w0.pt", ref / "w_star.pt", ref / "history.parquet")


def test_on_a_convex_quadratic_the_path_is_monotone_and_points_at_w_star(tmp_path, quadratic):  # noqa: F811
    s = quadratic
    _reference(s, tmp_path, "q")
    # Epoch 3 has no checkpoint (every 2): it is replayed from the one of epoch 2.
    table = run_straight_path(s, "q", "q", tmp_path, [0, 3, 9], 5, tmp_path / "reference/w_star.pt",
                              tmp_path / "path.parquet")
    assert sorted(table["from_epoch"].unique()) == [0, 3]  # 9 is past the 6-epoch budget
    for t, part in table.groupby("from_epoch"):
        assert list(part["alpha"]) == [0.0, 0.25, 0.5, 0.75, 1.0]
        assert part["monotone"].all() and (part["max_bump"] == 0).all()
        # GD on ½‖w − c‖² keeps w_t − c parallel to w0 − c: L(α) = (1 − α + α q)² L(0), with
        # q = (1 − lr)^(T − t) the share of w_t − c that is left at w*.
        q = (1 - s["lr"]) ** ((s["epochs"] - t) * s["steps_per_epoch"])
        loss0 = part["train_loss"].iloc[0]
        assert np.allclose(part["train_loss"], (1 - part["alpha"] + part["alpha"] * q) ** 2 * loss0, rtol=1e-10)
        assert np.allclose(part["gamma"].iloc[:-1], 1.0, atol=1e-12)  # ∇L is parallel to the path
        assert np.isnan(part["gamma"].iloc[-1])  # at w* itself d = 0
    assert table["full_loss"].equals(table["train_loss"])  # evaluate() reads the same objective
    assert (table["bn_statistics"] == "none").all()  # nothing to recompute


def test_largest_bump_and_monotonicity():
    assert largest_bump([3.0, 1.0, 2.0, 0.5, 1.5]) == 1.0
    assert largest_bump([3.0, 2.0, 1.0]) == 0.0
    assert not is_monotone([3.0, 1.0, 2.0, 0.5])
    assert is_monotone([3.0, 2.0, 2.0 + 1e-9, 1.0])  # a rise of 1e-9 of the range is float noise
    with pytest.raises(ValueError, match="measure.path_points = 1"):
        alphas(1)


CNN = {"model": "cnn", "width": 4, "depth": 1, "augment": True, "dropout": 0.1, "optimizer": "momentum", "epochs": 2,
       "batch_size": 128, "device": "cpu"}


def test_path_on_the_digits_cnn_interpolates_batchnorm_statistics(tmp_path, make_settings):
    s = make_settings(**CNN)
    _reference(s, tmp_path, "cnn")
    table = run_straight_path(s, "cnn", "cnn", tmp_path, [0], 3, tmp_path / "reference/w_star.pt",
                              tmp_path / "path.parquet", path_bn="interpolate")
    assert (table["bn_statistics"] == "interpolate").all()
    assert list(table.columns[:4]) == ["run_id", "from_epoch", "alpha", "train_loss"]
    assert {"val_loss", "val_acc", "rsi", "eb", "gamma", "lolr", "monotone", "max_bump"} <= set(table.columns)
    assert np.isfinite(table[["train_loss", "val_loss", "val_acc"]].to_numpy()).all()
    history = pd.read_parquet(tmp_path / "reference/history.parquet")
    # α = 1 is w* with its own statistics: the reference pass's last validation.
    assert table["val_acc"].iloc[-1] == pytest.approx(history["val_acc"].iloc[-1])


def test_recomputed_batchnorm_statistics_are_the_mean_over_fixed_minibatches(tmp_path, make_settings):
    """recompute: each BatchNorm layer's running mean is the plain mean of its input's batch means over the first
    path_bn_batches minibatches of the (seed, "path_bn") stream, the same ones at every call; and the path keeps
    the trajectory's own statistics at its start."""
    import torch

    from nowrongturns.straight_path import batchnorm_layers, recompute_bn_statistics
    from nowrongturns.train.engine import Trainer

    s = make_settings(**CNN)
    trainer = Trainer(s)
    trainer.train(1)
    bn = batchnorm_layers(trainer.model)[0]
    seen = []
    hook = bn.register_forward_pre_hook(lambda m, args: seen.append(args[0].double().mean(dim=(0, 2, 3))))
    recompute_bn_statistics(trainer, 3)
    hook.remove()
    assert len(seen) == 3
    assert torch.allclose(bn.running_mean.double(), torch.stack(seen).mean(0), rtol=1e-6, atol=1e-7)
    assert bn.momentum == 0.1 and int(bn.num_batches_tracked) == 3
    first = bn.running_var.clone()
    recompute_bn_statistics(trainer, 3)
    assert torch.equal(bn.running_var, first)

    _reference(s, tmp_path, "cnn")
    table = run_straight_path(s, "cnn", "cnn", tmp_path, [0], 3, tmp_path / "reference/w_star.pt",
                              tmp_path / "path.parquet", path_bn_batches=4)
    assert (table["bn_statistics"] == "recompute").all()
    assert np.isfinite(table[["train_loss", "val_loss", "val_acc", "gamma"]].to_numpy()[:-1]).all()
