"""loLR-shaped schedules: the per-epoch lr from a source's loLR table, smoothing, and what is refused."""
import pandas as pd
import pytest

from nowrongturns.storage.files import write_parquet
from nowrongturns.train.engine import Trainer
from nowrongturns.train.lolr_schedule import schedule_values


def _source(path, medians):
    write_parquet(pd.DataFrame({"run_id": "src", "epoch": range(len(medians)), "lolr_median": medians}), path)
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
