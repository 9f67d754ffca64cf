"""Learning-rate and weight-decay schedules as pure functions of the step."""
import math

import pytest

from nowrongturns.config import run_hash
from nowrongturns.config.settings import RunSettings
from nowrongturns.train.engine import Trainer
from nowrongturns.train.optim import lr_at, weight_decay_at


@pytest.fixture
def run_settings(make_settings):
    """Schema defaults and overrides, as the schedules read them."""
    return lambda **overrides: RunSettings.from_dict(make_settings(**overrides))


def test_constant_and_step(run_settings):
    s = run_settings(lr=0.1, schedule="step", step_epochs=2, step_gamma=0.5, epochs=6)
    assert [lr_at(s, e * 10, 10) for e in range(6)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    assert lr_at(run_settings(lr=0.3), 123, 10) == 0.3


def test_cosine_with_warmup(run_settings):
    s = run_settings(lr=1.0, schedule="cosine", warmup_epochs=1, epochs=3)
    assert lr_at(s, 0, 10) == pytest.approx(0.1)  # linear warm-up over the first epoch
    assert lr_at(s, 9, 10) == pytest.approx(1.0)
    assert lr_at(s, 10, 10) == pytest.approx(1.0)  # cosine starts at the top
    assert lr_at(s, 20, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


@pytest.mark.parametrize(("shape", "decay"), [("linear", lambda p: 1 - p),
                                              ("cosine", lambda p: 0.5 * (1 + math.cos(math.pi * p))),
                                              ("sqrt", lambda p: 1 - math.sqrt(p))])
def test_warmup_stable_decay(run_settings, shape, decay):
    # 5 epochs of 10 steps: warm-up over steps 0-3, stable to step 39, the last 20% (10 steps) decay.
    s = run_settings(lr=2.0, schedule="wsd", warmup_steps=4, decay_fraction=0.2, decay_shape=shape, epochs=5)
    lrs = [lr_at(s, t, 10) for t in range(50)]
    assert lrs[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert lrs[4:40] == [2.0] * 36
    assert lrs[40:] == pytest.approx([2.0 * decay(k / 10) for k in range(10)])
    assert lrs[-1] > 0  # the last step moves: w_{T-1} ≠ w*, its geometry is defined


def test_wsd_settings_name_wsd_runs_only(make_settings):
    s = make_settings()
    assert run_hash({**s, "decay_shape": "sqrt", "warmup_steps": 7}) == run_hash(s)
    wsd = {**s, "schedule": "wsd"}
    assert run_hash({**wsd, "decay_shape": "sqrt"}) != run_hash(wsd)


def test_wsd_warmup_and_decay_that_overlap_are_refused(make_settings):
    s = make_settings(dataset="none", model="random_walk", width=10, steps_per_epoch=10, epochs=2, schedule="wsd",
                      warmup_steps=15, decay_fraction=0.3, device="cpu")
    with pytest.raises(ValueError, match=r"warmup_steps = 15 and decay_fraction = 0.3 \(6 steps\) overlap in the run's 20"):
        Trainer(s)


def test_sqrt_batch_scaling(run_settings):
    s = run_settings(lr=0.1, lr_scaling="sqrt_batch", batch_size=256)
    assert lr_at(s, 0, 10) == pytest.approx(0.1 * 2.0)  # √(256/64) = 2


def test_final_low_lr_epoch_divides_lr_and_weight_decay(run_settings):
    s = run_settings(lr=0.01, weight_decay=1e-5, final_low_lr_epoch=True, epochs=26)
    assert lr_at(s, 24 * 10 + 9, 10) == pytest.approx(0.01)
    assert lr_at(s, 25 * 10, 10) == pytest.approx(0.001)
    assert weight_decay_at(s, 24 * 10, 10) == pytest.approx(1e-5)
    assert weight_decay_at(s, 25 * 10, 10) == pytest.approx(1e-6)


def test_settings_off_by_default_do_not_change_a_run_hash(make_settings):
    s = make_settings()
    older = {k: v for k, v in s.items() if k not in ("lr_scaling", "final_low_lr_epoch")}
    assert run_hash(s) == run_hash(older)
    assert run_hash({**s, "lr_scaling": "sqrt_batch"}) != run_hash(s)
