"""The random-walk null model reproduces γ_t ≈ (T − t)^(−1/2) (paper, Section 6)."""
import numpy as np

from nowrongturns.geometry.metrics import for_target, metrics
from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.train.engine import Trainer


def test_random_walk_gamma_follows_closed_form(make_settings):
    dim, steps = 200_000, 100
    s = make_settings(dataset="none", model="random_walk", width=dim, lr=1.0, steps_per_epoch=steps // 2, epochs=2)
    ref = Trainer(s, "rw")
    ref.train(2)
    replay = Trainer(s, "rw")
    rec = GeometryRecorder(replay.flat, ref.flat.data.clone(), steps)
    replay.train(2, recorder=rec)
    sums = for_target(rec.raw(np.arange(steps) // (steps // 2), np.arange(steps), [1.0] * steps), "0")
    gamma = metrics(sums["g_dot_d"], sums["g_sq"], sums["d_sq"])["gamma"]
    remaining = steps - np.arange(steps)  # T − t
    scaled = gamma * np.sqrt(remaining)
    # With ξ ~ N(0, I/d), γ_t·√(T−t) = (‖ξ_t‖² + Σ_{s>t} ξ_t·ξ_s) / (‖ξ_t‖ ‖Σ_{s≥t} ξ_s‖/√(T−t)).
    # The cross terms are N(0, 1/d) each, so the numerator deviates from 1 with std √((T−t−1)/d);
    # the norms contribute about √(2/d) each. Six of these standard deviations, for each of the
    # 100 steps, fail with probability below 1e-6 in all (and the seed is fixed).
    sigma = np.sqrt((remaining - 1) / dim + 4.0 / dim)
    assert np.all(np.abs(scaled - 1.0) <= 6 * sigma), np.max(np.abs(scaled - 1.0) / sigma)
    assert gamma[-1] > 0.999999  # the last step points exactly at w*
    # And the trend is really there: γ grows about 10x from t = 0 to t = T − 1.
    assert gamma[-1] / gamma[0] > 9
