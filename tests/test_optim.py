"""Learning-rate and weight-decay schedules as pure functions of the step."""
import math

import pytest

from nowrongturns.config import run_hash
from nowrongturns.config.settings import RunSettings
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
