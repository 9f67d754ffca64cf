"""The per-step geometry against closed forms."""
import os

import numpy as np
import pandas as pd
import pytest
import torch

from nowrongturns.geometry.metrics import for_target, metrics, step_table
from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.train.engine import Trainer
from nowrongturns.train.flat import FlatParams


def _vector(values, dtype=torch.float64):
    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.as_tensor(values, dtype=dtype).clone())
    return model


# These tests feed CPU tensors: the Triton kernel takes them under Triton's interpreter, which the
# tests turn on where no GPU is visible (conftest.py); on a GPU machine test_triton_sums.py runs it compiled.
BACKENDS = ["fused_cpu", "gram"] + (["triton"] if os.environ.get("TRITON_INTERPRET") == "1" else [])


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def _record(model, w_star, loss_fn, lr=0.1, weight_decay=0.0, backend="auto"):
    """One SGD step with the recorder around it, as the engine does."""
    flat = FlatParams(model)
    opt = torch.optim.SGD(flat.params, lr=lr)
    rec = GeometryRecorder(flat, torch.as_tensor(w_star), 1, weight_decay, backend=backend)
    flat.zero_grad()
    loss = loss_fn(model.w)
    loss.backward()
    rec.before_step(0)
    opt.step()
    rec.after_step(0)
    rec.record_losses(0, [loss.item()])
    return step_table("r", for_target(rec.raw([0], [0], [lr]), "0")).iloc[0]


def test_isotropic_quadratic_gives_ones(backend):
    # f(w) = ½‖w − c‖², w* = c: G = d, so RSI = EB = γ = loLR = 1.
    rng = np.random.default_rng(0)
    c, w0 = rng.normal(size=50), rng.normal(size=50)
    row = _record(_vector(w0), c, lambda w: 0.5 * (w - torch.as_tensor(c)).square().sum(), lr=0.1, backend=backend)
    for col in ("rsi", "eb", "gamma", "lolr"):
        assert row[col] == pytest.approx(1.0, rel=1e-13), col
    d = np.linalg.norm(w0 - c)
    assert row["d_norm"] == pytest.approx(d, rel=1e-13)
    # SGD update u = −0.1·G = −0.1·d: ‖u‖ = 0.1‖d‖, u·d = −0.1‖d‖², cos(−u, d) = 1.
    assert row["u_norm"] == pytest.approx(0.1 * d, rel=1e-13)
    assert row["u_dot_d"] == pytest.approx(-0.1 * d**2, rel=1e-13)
    assert row["cos_u_d"] == pytest.approx(1.0, rel=1e-13)
    assert row["u_rsi"] == pytest.approx(0.1, rel=1e-13)  # the update's RSI −u·d / ‖d‖² = lr × RSI


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_anisotropic_quadratic_matches_closed_form(seed, backend):
    # f(w) = ½ Σ λ_i (w_i − c_i)²: G = Λd, RSI = Σλd²/‖d‖², EB = ‖Λd‖/‖d‖, loLR = Σλd²/‖Λd‖².
    rng = np.random.default_rng(seed)
    lam = rng.uniform(0.01, 10.0, size=40)
    c, w0 = rng.normal(size=40), rng.normal(size=40)
    d = w0 - c
    row = _record(_vector(w0), c, lambda w: 0.5 * (torch.as_tensor(lam) * (w - torch.as_tensor(c)).square()).sum(),
                  backend=backend)
    num, dd, gg = np.sum(lam * d * d), np.sum(d * d), np.sum((lam * d) ** 2)
    expected = {"rsi": num / dd, "eb": np.sqrt(gg / dd), "gamma": num / np.sqrt(gg * dd), "lolr": num / gg,
                "g_dot_d": num, "g_norm": np.sqrt(gg)}
    for col, value in expected.items():
        assert row[col] == pytest.approx(value, rel=1e-12), col
    assert row["lolr"] == pytest.approx(row["rsi"] / row["eb"] ** 2, rel=1e-12)
    assert row["gamma"] == pytest.approx(row["rsi"] / row["eb"], rel=1e-12)


def test_weight_decay_columns_use_g_plus_lambda_w(backend):
    rng = np.random.default_rng(4)
    lam_wd = 0.01
    c, w0 = rng.normal(size=30), rng.normal(size=30)
    row = _record(_vector(w0), c, lambda w: 0.5 * (w - torch.as_tensor(c)).square().sum(), weight_decay=lam_wd,
                  backend=backend)
    g = (w0 - c) + lam_wd * w0
    d = w0 - c
    assert row["wd_g_dot_d"] == pytest.approx(g @ d, rel=1e-13)
    assert row["wd_g_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-13)
    assert row["wd_gamma"] == pytest.approx(g @ d / (np.linalg.norm(g) * np.linalg.norm(d)), rel=1e-13)
    assert row["gamma"] == pytest.approx(1.0, rel=1e-13)  # the plain columns stay on G alone


def test_distance_near_w_star_has_float64_accuracy(backend):
    # ‖d‖ ~ 1e-7 ‖w‖ with float32 weights: the expansion ‖w‖² − 2w·w* + ‖w*‖² is useless
    # here, the direct float64 difference is exact up to float64 rounding.
    rng = np.random.default_rng(5)
    w_star = rng.normal(size=200_000).astype(np.float32)
    w = (w_star.astype(np.float64) * (1 + 1e-7 * rng.normal(size=w_star.size))).astype(np.float32)
    exact = np.sqrt(np.sum((w.astype(np.float64) - w_star.astype(np.float64)) ** 2))
    assert 1e-8 < exact / np.linalg.norm(w_star) < 1e-6
    row = _record(_vector(w, torch.float32), w_star, lambda v: v.sum(), backend=backend)
    assert row["d_norm"] == pytest.approx(exact, rel=1e-12)
    w32, s32 = torch.as_tensor(w), torch.as_tensor(w_star)
    expanded = float((w32 @ w32 - 2 * (w32 @ s32) + s32 @ s32).abs().sqrt())
    assert abs(expanded - exact) / exact >= 0.5  # why the expansion is forbidden


def test_metrics_of_zero_gradient_are_nan_not_errors():
    m = metrics([0.0], [0.0], [1.0])
    assert m["rsi"][0] == 0.0 and m["eb"][0] == 0.0
    assert np.isnan(m["gamma"][0]) and np.isnan(m["lolr"][0])


def test_clipped_columns_follow_the_clipping_rule():
    # ‖G‖ = 5 clipped to 1: s = 1/(5 + 1e-6); RSI and EB scale by s, loLR by 1/s, γ unchanged.
    raw = pd.DataFrame({"epoch": [0], "step": [0], "lr": [0.1], "loss": [0.1], "g_dot_d": [3.0], "g_sq": [25.0],
                        "d_sq": [4.0], "u_sq": [0.0], "u_dot_d": [0.0]})
    df = step_table("r", raw, grad_clip=1.0)
    s = 1.0 / (5.0 + 1e-6)
    row = df.iloc[0]
    assert row["clip_scale"] == pytest.approx(s)
    assert row["clip_g_norm"] == pytest.approx(5.0 * s)
    assert row["clip_rsi"] == pytest.approx(s * 3.0 / 4.0)
    assert row["clip_eb"] == pytest.approx(s * 5.0 / 2.0)
    assert row["clip_lolr"] == pytest.approx(3.0 / 25.0 / s)
    unclipped = step_table("r", raw)
    assert "clip_scale" not in unclipped.columns


def test_clipped_geometry_matches_the_actual_sgd_update(make_settings):
    # Plain SGD with clipping moves by u = −lr·s·G, so ‖u‖ must equal lr·clip_g_norm.
    s = make_settings(model="mlp", width=16, lr=0.1, grad_clip=0.05, epochs=1)
    trainer = Trainer(s, "clip")
    rec = GeometryRecorder(trainer.flat, torch.zeros(trainer.flat.numel), trainer.steps_per_epoch)
    trainer.train(1, recorder=rec)
    n = trainer.steps_per_epoch
    df = step_table("clip", for_target(rec.raw([0] * n, range(n), [0.1] * n), "0"), grad_clip=0.05)
    assert (df["clip_scale"] < 1).all()  # clipping was active at every step
    np.testing.assert_allclose(df["u_norm"], 0.1 * df["clip_g_norm"], rtol=1e-5)


def _two_budgets(make_settings):
    """A small run's settings, its w* after 1 and after 2 epochs, and its number of steps."""
    s = make_settings(model="mlp", width=16, optimizer="momentum", weight_decay=1e-3, epochs=2)
    ref = Trainer(s, "r")
    ref.train(1)
    w1 = ref.flat.data.clone()
    ref.train(2)
    return s, w1, ref.flat.data.clone(), 2 * ref.steps_per_epoch


def test_several_targets_match_separate_recordings(make_settings):
    # One replay measuring against two final points gives, for each, exactly what a replay against
    # that point alone gives; the shorter budget's target is recorded for its steps only.
    s, w1, w2, n = _two_budgets(make_settings)
    both = Trainer(s, "r")
    rec = GeometryRecorder(both.flat, [w1, w2], n, 1e-3, limits=[n // 2, n], names=[1, 2])
    both.train(2, recorder=rec)
    raw = rec.raw(np.arange(n) // (n // 2), np.arange(n), [0.05] * n)
    for w_star, name in ((w1, 1), (w2, 2)):
        alone = Trainer(s, "r")
        single = GeometryRecorder(alone.flat, w_star, n, 1e-3)
        alone.train(2, recorder=single)
        expected = for_target(single.raw(raw["epoch"], raw["step"], raw["lr"]), "0", budget=name)
        pd.testing.assert_frame_equal(for_target(raw, name, budget=name).reset_index(drop=True),
                                      expected.reset_index(drop=True))
    assert raw["g_dot_d@1"].iloc[n // 2:].isna().all()  # past budget 1: not recorded


def test_backends_agree_to_float64_rounding(make_settings):
    # The fused CPU kernel, the Triton kernel and the Gram-matrix backend (whole, and in many chunks
    # with the last one partial) give the same sums up to float64 rounding (only the order of the
    # additions differs), targets, limits and λ included, every row's update sums too.
    s, w1, w2, n = _two_budgets(make_settings)
    tables = {}
    runs = [("fused_cpu", None), ("gram", 10**9), ("gram", 257)] + [("triton", None)] * ("triton" in BACKENDS)
    for backend, chunk in runs:
        replay = Trainer(s, "r")
        assert replay.flat.numel > 4 * 257
        rec = GeometryRecorder(replay.flat, [w1, w2], n, 1e-3, limits=[n // 2, n], names=[1, 2],
                               backend=backend, chunk=chunk)
        replay.train(2, recorder=rec)
        tables[backend, chunk] = rec.sums()
    fused = tables["fused_cpu", None]
    assert not np.isnan(fused[:, [rec.columns.index(c) for c in ("u_sq", "u_dot_d@2")]]).any()
    for key, other in tables.items():
        assert np.array_equal(np.isnan(fused), np.isnan(other)), key
        np.testing.assert_allclose(other, fused, rtol=1e-12, atol=0, err_msg=str(key))


def test_backends_handle_rows_out_of_order(make_settings):
    # Rows recorded out of order (an epoch recorded twice into rows 0..n-1) still get their own
    # update sums: the one-pass backends finish the pending step from the weights before the next starts.
    s = make_settings(model="mlp", width=16, optimizer="momentum", epochs=2)
    w_star = torch.zeros(Trainer(s, "r").flat.numel)
    tables = []
    for backend in BACKENDS:
        trainer = Trainer(s, "r")
        rec = GeometryRecorder(trainer.flat, w_star, trainer.steps_per_epoch, backend=backend)
        trainer.run_epoch(rec, first_row=0)
        trainer.run_epoch(rec, first_row=0)  # the second epoch overwrites the first
        tables.append(rec.sums())
    for other in tables[1:]:
        np.testing.assert_allclose(other, tables[0], rtol=1e-12, atol=0)
    assert not np.isnan(tables[0]).any()


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="unknown geometry backend 'cuda'"):
        GeometryRecorder(FlatParams(_vector([1.0, 2.0])), torch.zeros(2), 1, backend="cuda")


def test_per_block_sums_add_up_to_the_whole_on_every_backend(backend, make_settings):
    """A CNN (conv, BatchNorm, linear blocks) replayed with and without blocks: the blocks' G_b·d_b, ‖G_b‖²,
    ‖d_b‖² add up to the whole to float64 rounding, and the whole equals the unblocked pass's."""
    from nowrongturns.geometry.blocks import parameter_blocks
    from nowrongturns.geometry.recorder import block_column

    s = make_settings(model="cnn", width=4, depth=1, optimizer="momentum", weight_decay=1e-3, epochs=2,
                      batch_size=256, device="cpu")
    ref = Trainer(s)
    ref.train(2)
    w_star = ref.flat.data.clone()
    tables = {}
    for blocked in (False, True):
        t = Trainer(s)
        blocks = parameter_blocks(t.model) if blocked else None
        n = 2 * t.steps_per_epoch
        rec = GeometryRecorder(t.flat, w_star, n, 1e-3, backend=backend, blocks=blocks)
        t.train(2, recorder=rec)
        tables[blocked] = rec.raw([k // t.steps_per_epoch for k in range(n)], range(n), [0.05] * n)
    blocks = parameter_blocks(Trainer(s).model)
    assert [b.name for b in blocks][:2] == ["features.0", "features.1"] and blocks[-1].end == ref.flat.numel
    raw = tables[True]
    for whole, part in (("g_sq", "g_sq#{}"), ("g_dot_d@0", "g_dot_d#{}@0"), ("d_sq@0", "d_sq#{}@0")):
        summed = sum(raw[part.format(b.name)] for b in blocks)
        assert np.allclose(summed, raw[whole], rtol=1e-12, atol=0), whole
        assert np.allclose(raw[whole], tables[False][whole], rtol=1e-12, atol=0), whole
    assert block_column("g_sq", "features.0") in raw
