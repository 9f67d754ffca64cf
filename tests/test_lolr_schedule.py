"""loLR-shaped schedules: the per-epoch lr from a source's loLR table, smoothing, and what is refused."""
import pandas as pd
import pytest

from nowrongturns.geometry.metrics import for_target, step_table
from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.storage.files import write_parquet
from nowrongturns.train.engine import Trainer
from nowrongturns.train.lolr_schedule import schedule_values


def _source(path, medians, lr=1e-3):
    write_parquet(pd.DataFrame({"run_id": "src", "epoch": range(len(medians)), "lr": lr, "lolr_median": medians}),
                  path)
    return path


def test_lr_is_the_scaled_median_and_smoothing_is_a_running_median(tmp_path):
    path = _source(tmp_path / "lolr.parquet", [4.0, 1.0, 9.0, 2.0, 3.0])
    assert schedule_values(path, 5, 0.5) == [2.0, 0.5, 4.5, 1.0, 1.5]
    # Half-width 1: the median of each epoch and its neighbours, over all of the source's epochs.
    assert schedule_values(path, 3, 0.5, smoothing=1) == [0.5 * 2.5, 0.5 * 4.0, 0.5 * 2.0]


@pytest.mark.parametrize("medians, epochs, words", [
    ([1.0, -0.5, 2.0], 3, ["median loLR of epoch 1 gives lr = -0.25", "not a positive learning rate"]),
    ([1.0, float("nan")], 2, ["epoch 1", "nan"]),
    ([1.0, 2.0], 3, ["loLR of 2 epochs, the run needs 3"]),
])
def test_a_schedule_that_is_no_learning_rate_is_refused_naming_the_file(tmp_path, medians, epochs, words):
    path = _source(tmp_path / "lolr.parquet", medians)
    with pytest.raises(ValueError) as err:
        schedule_values(path, epochs, 0.5)
    assert str(path) in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_the_trainer_follows_the_schedule(tmp_path, make_settings):
    path = _source(tmp_path / "lolr.parquet", [0.2, 0.1, 0.05, 0.01])
    s = make_settings(model="mlp", width=8, depth=1, optimizer="momentum", schedule="lolr", lolr_scale=0.5,
                      lolr_path=str(path), epochs=3, device="cpu")
    trainer = Trainer(s)
    trainer.train(3)
    assert [h["lr"] for h in trainer.history] == [0.1, 0.05, 0.025]
    assert trainer.optimizer.param_groups[0]["lr"] == 0.025
    with pytest.raises(ValueError, match="lolr_path is missing"):
        Trainer({**s, "lolr_path": None})


def test_epochs_where_the_source_own_step_dominates_are_held(tmp_path):
    """lr / median loLR = 0.125, 0.25, 0.5, 1: from epoch 2 on, half the median or more is the source's own step
    (loLR against its own w* contains it by construction), so epochs 2 and 3 take epoch 1's value."""
    path = _source(tmp_path / "lolr.parquet", [4.0, 2.0, 1.0, 0.5], lr=0.5)
    assert schedule_values(path, 4, 0.1) == pytest.approx([0.4, 0.2, 0.2, 0.2])
    with pytest.raises(ValueError, match="in epoch 0 the source's lr is already 0.5 of its median loLR"):
        schedule_values(_source(tmp_path / "early.parquet", [1.0, 2.0], lr=0.5), 2, 0.1)


def test_against_a_fork_every_epoch_is_taken_as_measured(tmp_path):
    forks = pd.DataFrame({"run_id": "src", "fork": ["at0-seed1"] * 3 + ["at2-seed1"], "epoch": [0, 1, 2, 2],
                          "lolr_fork_median": [4.0, 2.0, 1.0, 9.0]})
    path = tmp_path / "forks.parquet"
    write_parquet(forks, path)
    assert schedule_values(path, 3, 0.1, target="at0-seed1") == pytest.approx([0.4, 0.2, 0.1])
    with pytest.raises(ValueError, match="no loLR against fork at2-seed1 from epoch 0"):
        schedule_values(path, 3, 0.1, target="at2-seed1")


def test_plain_sgd_last_step_lolr_is_its_lr(make_settings):
    """w_{T-1} − lr·G = w*, so d = lr·G and loLR = G·d / ‖G‖² = lr: the identity that makes a schedule derived
    against the run's own w* end on the source's lr."""
    s = make_settings(model="mlp", width=8, depth=1, optimizer="sgd", lr=0.05, epochs=2, device="cpu",
                      precision="float64")
    ref = Trainer(s)
    ref.train(2)
    replay = Trainer(s)
    rec = GeometryRecorder(replay.flat, ref.flat.data.clone(), 2 * replay.steps_per_epoch, 0.0)
    replay.train(2, recorder=rec)
    n = 2 * replay.steps_per_epoch
    steps = step_table("r", for_target(rec.raw([t // replay.steps_per_epoch for t in range(n)], range(n), [0.05] * n),
                                       "0"))
    last = n - 1
    assert steps["lolr"].iloc[last] == pytest.approx(0.05, rel=1e-9)
    assert abs(steps["lolr"].iloc[0] / 0.05 - 1) > 1e-3  # earlier steps also hold the later ones
