"""Per-epoch statistics and the loLR table against direct numpy computations."""
import json

import numpy as np
import pandas as pd
import pytest

from nowrongturns.stats import EPOCH_METRICS, aggregate, epoch_stats, gather, lolr_table
from nowrongturns.storage.files import write_parquet


def _steps(n_epochs=3, spe=5, seed=0):
    rng = np.random.default_rng(seed)
    n = n_epochs * spe
    df = pd.DataFrame({"run_id": "r", "epoch": np.repeat(np.arange(n_epochs), spe), "step": np.arange(n),
                       "lr": np.repeat([0.1, 0.05, 0.01], spe)[:n], "loss": rng.random(n)})
    for m in EPOCH_METRICS:
        df[m] = rng.normal(size=n)
    return df


def test_epoch_stats_match_numpy():
    steps = _steps()
    out = epoch_stats(steps)
    assert list(out["epoch"]) == [0, 1, 2]
    assert list(out["final_epoch"]) == [False, False, True]
    for e in range(3):
        g = steps[steps.epoch == e]
        row = out[out.epoch == e].iloc[0]
        assert row["n_steps"] == 5
        assert row["frac_gamma_neg"] == pytest.approx((g.gamma < 0).mean())
        assert row["lr_mean"] == pytest.approx(g.lr.mean())
        for m in EPOCH_METRICS:
            v = g[m].to_numpy()
            assert row[f"{m}_mean"] == pytest.approx(v.mean())
            assert row[f"{m}_std"] == pytest.approx(v.std(ddof=1))
            assert row[f"{m}_min"] == v.min() and row[f"{m}_max"] == v.max()
            for name, q in (("q05", 0.05), ("q50", 0.5), ("q95", 0.95)):
                assert row[f"{m}_{name}"] == pytest.approx(np.quantile(v, q))


def test_lolr_table_ratio():
    steps = _steps()
    out = lolr_table(steps)
    assert list(out.columns) == ["run_id", "epoch", "final_epoch", "lr", "lolr_mean", "lolr_median",
                                 "ratio_mean", "ratio_median", "own_step_share", "own_step_dominant"]
    g = steps[steps.epoch == 1]
    row = out[out.epoch == 1].iloc[0]
    assert row["lolr_median"] == pytest.approx(g.lolr.median())
    assert row["ratio_mean"] == pytest.approx(g.lolr.mean() / 0.05)
    # The step's own share of the median loLR: lr / median, undefined where the median is not positive.
    for _, r in out.iterrows():
        if r["lolr_median"] > 0:
            assert r["own_step_share"] == pytest.approx(r["lr"] / r["lolr_median"])
            assert r["own_step_dominant"] == (r["lr"] / r["lolr_median"] >= 0.5)
        else:
            assert np.isnan(r["own_step_share"]) and not r["own_step_dominant"]


def test_gather_derives_the_budget_table_and_rejects_gaps(tmp_path):
    rng = np.random.default_rng(1)
    n = 15
    raw = pd.DataFrame({"epoch": np.arange(n) // 5, "step": np.arange(n), "lr": 0.1, "loss": rng.random(n),
                        "g_sq": rng.random(n) + 1, "u_sq": rng.random(n)})
    for budget in (2, 3):  # a prefix run (2 epochs) rides along with the 3-epoch run
        for name in ("g_dot_d", "d_sq", "u_dot_d"):
            raw[f"{name}@{budget}"] = rng.random(n) + 0.5
        raw.loc[raw["epoch"] >= budget, [f"g_dot_d@{budget}", f"d_sq@{budget}", f"u_dot_d@{budget}"]] = np.nan
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_parquet(raw.iloc[10:], b, metadata={"drift": {"segment": 1, "drift": 0.0}})
    write_parquet(raw.iloc[:10], a, metadata={"drift": {"segment": 0, "drift": 0.0}})
    out = gather("r3", [str(b), str(a)], 3, tmp_path / "steps.parquet", tmp_path / "drift.json")
    assert list(out["step"]) == list(range(15))
    assert out["gamma"].to_numpy() == pytest.approx(
        raw["g_dot_d@3"] / np.sqrt(raw["g_sq"] * raw["d_sq@3"]))
    short = gather("r2", [str(a)], 2, tmp_path / "s2.parquet", tmp_path / "d2.json")
    assert list(short["step"]) == list(range(10)) and short["run_id"].unique().tolist() == ["r2"]
    with pytest.raises(ValueError, match="gaps or overlaps"):
        gather("r3", [str(b)], 3, tmp_path / "s3.parquet", tmp_path / "d3.json")
    assert not (tmp_path / "s3.parquet").exists()


def test_aggregate_writes_the_four_tables_of_a_run(tmp_path):
    rng = np.random.default_rng(2)
    n = 10
    raw = pd.DataFrame({"epoch": np.arange(n) // 5, "step": np.arange(n), "lr": 0.1, "loss": rng.random(n),
                        "g_sq": rng.random(n) + 1, "u_sq": rng.random(n), "g_dot_d@2": rng.random(n),
                        "d_sq@2": rng.random(n) + 0.5, "u_dot_d@2": rng.random(n)})
    seg = tmp_path / "segment_0.parquet"
    write_parquet(raw, seg, metadata={"drift": {"segment": 0, "drift": 0.0}})
    paths = {name: tmp_path / f"{name}.{ext}" for name, ext in
             (("steps", "parquet"), ("drift", "json"), ("epochs", "parquet"), ("lolr", "parquet"))}
    steps = aggregate("r", [str(seg)], 2, None, *paths.values())
    pd.testing.assert_frame_equal(pd.read_parquet(paths["steps"]), steps)
    pd.testing.assert_frame_equal(pd.read_parquet(paths["epochs"]), epoch_stats(steps))
    pd.testing.assert_frame_equal(pd.read_parquet(paths["lolr"]), lolr_table(steps))
    assert json.loads(paths["drift"].read_text())["max_drift"] == 0.0


def test_fraction_of_negative_gamma_counts_only_steps_where_gamma_is_defined():
    steps = _steps()
    steps.loc[steps.epoch == 0, "gamma"] = [-0.5, 0.2, np.nan, np.nan, 0.1]  # ‖G‖ = 0 at two steps
    steps.loc[steps.epoch == 1, "gamma"] = np.nan
    out = epoch_stats(steps)
    assert out.loc[0, "frac_gamma_neg"] == pytest.approx(1 / 3)  # not 1/5
    assert np.isnan(out.loc[1, "frac_gamma_neg"])
