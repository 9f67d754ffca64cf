import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from nowrongturns.config import run_defaults
from nowrongturns.config.describe import about
from nowrongturns.plots import FIGURE_KINDS, draw, epoch_rows, load_runs, render_overview, render_study

METRICS = ("rsi", "eb", "gamma", "lolr", "d_norm", "cos_u_d", "u_rsi")


def _tables(run_id, n_epochs=4, steps_per_epoch=10, seed=0):
    """Small but plausible per-step, per-epoch and loLR tables for one run."""
    rng = np.random.default_rng(seed)
    n = n_epochs * steps_per_epoch
    step = np.arange(n)
    d_norm = 1.0 + (n - step) * 0.1
    gamma = np.clip((n - step) ** -0.5 + 0.05 * rng.standard_normal(n), -1, 1)
    steps = pd.DataFrame({
        "run_id": run_id, "epoch": step // steps_per_epoch, "step": step, "lr": 0.1,
        "loss": np.exp(-step / n), "g_dot_d": gamma, "g_norm": 1.0, "d_norm": d_norm,
        "rsi": gamma / d_norm, "eb": gamma + 0.1, "gamma": gamma,
        "lolr": np.abs(gamma) * d_norm, "u_norm": 1.0, "u_dot_d": gamma, "cos_u_d": gamma,
        "u_rsi": gamma / d_norm ** 2,
    })
    grouped = steps.groupby("epoch")
    epochs = pd.DataFrame({"run_id": run_id, "epoch": np.arange(n_epochs)})
    epochs["n_steps"] = steps_per_epoch
    epochs["final_epoch"] = epochs["epoch"] == n_epochs - 1
    epochs["lr_mean"] = 0.1
    epochs["frac_gamma_neg"] = grouped["gamma"].apply(lambda g: (g < 0).mean()).to_numpy()
    for m in METRICS:
        col = grouped[m]
        epochs[f"{m}_mean"] = col.mean().to_numpy()
        epochs[f"{m}_std"] = col.std().to_numpy()
        epochs[f"{m}_min"] = col.min().to_numpy()
        epochs[f"{m}_max"] = col.max().to_numpy()
        for q in (5, 50, 95):
            epochs[f"{m}_q{q:02d}"] = col.quantile(q / 100).to_numpy()
    lolr = epochs[["run_id", "epoch", "final_epoch"]].copy()
    lolr["lr"] = 0.1
    lolr["lolr_mean"] = epochs["lolr_mean"]
    lolr["lolr_median"] = epochs["lolr_q50"]
    lolr["ratio_mean"] = lolr["lolr_mean"] / lolr["lr"]
    lolr["ratio_median"] = lolr["lolr_median"] / lolr["lr"]
    e = np.arange(n_epochs)
    full_batch = pd.concat([
        pd.DataFrame({"run_id": run_id, "epoch": e, "mode": mode, "target": target, "gamma": g,
                      "gamma_minibatch": epochs["gamma_mean"], "final_epoch": e == n_epochs - 1})
        for mode, target, g in (("eval", "w*", 0.5), ("train_independent", "w*", 0.4), ("train_own_draws", "w*", 0.6),
                                ("train_independent", "at1-seed1", 0.1))])
    full_batch["noise_share"] = np.where(full_batch["mode"] == "eval", np.nan, 0.6)
    forks = pd.DataFrame({"run_id": run_id, "fork": "at1-seed1", "at_epoch": 1, "epoch": e[1:],
                          "gamma_own_mean": 0.3, "gamma_fork_mean": 0.01, "gamma_fork_std": 0.02,
                          "gamma_fork_null_mean": 0.05,
                          "random_walk_gamma_own": 0.1, "final_epoch": e[1:] == n_epochs - 1})
    alpha = np.linspace(0, 1, 5)
    path = pd.concat([pd.DataFrame({"run_id": run_id, "from_epoch": t, "alpha": alpha, "train_loss": 2 - alpha,
                                    "gamma": 0.2 * (1 - alpha), "monotone": t == 0, "max_bump": 0.1 * t,
                                    "bn_statistics": "recompute"})
                      for t in (0, 2)])
    history = pd.DataFrame({"epoch": e, "train_loss": 1 / (1 + e), "lr": 0.1 / (1 + e), "val_acc": 0.5 + 0.1 * e})
    sharpness = pd.DataFrame({"run_id": run_id, "epoch": e, "lambda_max": 5.0 + e, "residual": 1e-3, "lr": 0.1,
                              "two_over_lr": 20.0, "two_over_lambda": 2 / (5.0 + e), "lolr_median": 0.3,
                              "final_epoch": e == n_epochs - 1})
    blocks = pd.concat([pd.DataFrame({"run_id": run_id, "block_index": i, "block": name, "epoch": e,
                                      "gamma_mean": 0.1 * i - 0.05 * e, "d_share_mean": 0.5, "g_share_mean": 0.5,
                                      "final_epoch": e == n_epochs - 1})
                        for i, name in enumerate(("features.0", "classifier"))], ignore_index=True)
    return {"steps": steps, "epochs": epochs, "lolr": lolr, "full_batch": full_batch, "forks": forks, "path": path,
            "sharpness": sharpness, "blocks": blocks,
            "history": history}


@pytest.fixture
def runs(tmp_path):
    out = []
    for i, opt in enumerate(("sgd", "adam")):
        run_dir = tmp_path / "runs" / opt
        run_dir.mkdir(parents=True)
        settings = {**run_defaults(), "optimizer": opt, "lr": 0.1 if opt == "sgd" else 0.001}
        entry = {"label": f"optimizer={opt}", "run_id": f"run-{opt}", "about": about(settings)}
        for name, df in _tables(entry["run_id"], seed=i).items():
            path = run_dir / f"{name}.parquet"
            df.to_parquet(path)
            entry[name] = str(path)
        out.append(entry)
    return out


def test_render_all_kinds(tmp_path, runs):
    out_dir = tmp_path / "figures"
    written = render_study(out_dir, "optimizer", FIGURE_KINDS, runs, compare="optimizer")
    expected = {out_dir / f"{k}.{fmt}" for k in FIGURE_KINDS for fmt in ("png", "pdf")}
    assert len(written) == len(expected)
    assert set(written) == expected
    for path in expected:
        data = path.read_bytes()
        assert data, path
        magic = b"\x89PNG\r\n\x1a\n" if path.suffix == ".png" else b"%PDF"
        assert data.startswith(magic), path
    # Only the final files remain: no temporaries from the atomic writes.
    assert set(out_dir.iterdir()) == expected


def test_unknown_kind(tmp_path, runs):
    with pytest.raises(ValueError, match="no_such_kind"):
        render_study(tmp_path / "f", "s", ["gamma", "no_such_kind"], runs, compare="optimizer")


def test_missing_table(tmp_path, runs):
    missing = tmp_path / "nowhere" / "epochs.parquet"
    runs[1]["epochs"] = str(missing)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        render_study(tmp_path / "f", "s", ["gamma"], runs, compare="optimizer")


def test_epoch_rows_drops_final_epoch():
    df = pd.DataFrame({"epoch": [2, 0, 1], "final_epoch": [True, False, False]})
    assert epoch_rows(df, drop_final_epoch=True)["epoch"].tolist() == [0, 1]
    assert epoch_rows(df, drop_final_epoch=False)["epoch"].tolist() == [0, 1, 2]


def test_epoch_rows_keeps_final_epoch_if_alone():
    df = pd.DataFrame({"epoch": [0], "final_epoch": [True]})
    assert epoch_rows(df, drop_final_epoch=True)["epoch"].tolist() == [0]


def test_overview_has_one_panel_per_study(runs, tmp_path):
    out = tmp_path / "overview"
    written = render_overview(out, {"optimizers": runs, "seeds": runs[:1]}, formats=("png",), dpi=50)
    assert written == [out / "gamma.png"]
    assert (out / "gamma.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["gamma.png"]
    with pytest.raises(ValueError, match="no study"):
        render_overview(out, {})


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(plt.Text))


def test_titles_name_data_model_optimizer_and_what_varies(runs):
    loaded = load_runs(runs, FIGURE_KINDS)
    for kind in FIGURE_KINDS:
        fig = draw(kind, loaded, "opt", compare="optimizer")
        try:
            title = fig.get_suptitle()
        finally:
            plt.close(fig)
        assert title.startswith("opt: "), (kind, title)
        if kind == "lolr":  # Adam is not drawn there
            assert title.endswith("digits · mlp · sgd · lr 0.1 — varies: optimizer"), title
        else:
            assert title.endswith("digits · mlp · sgd/adam · lr 0.1/0.001 — varies: optimizer"), (kind, title)
    # Without a compare key, what varies is read from the settings themselves.
    fig = draw("gamma", loaded, "opt", compare=None)
    assert fig.get_suptitle().endswith("varies: lr, optimizer")
    plt.close(fig)


def test_lolr_draws_the_sgd_family_and_names_the_others(runs):
    fig = draw("lolr", load_runs(runs, ["lolr"]), "opt", compare="optimizer")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    note = fig.get_supxlabel()
    plt.close(fig)
    assert "optimizer=sgd" in legend and "optimizer=adam" not in legend
    assert note.startswith("Not drawn: optimizer=adam.") and "adaptive optimizer" in note
    # Only adaptive runs: nothing drawn, the figure says so.
    fig = draw("lolr", load_runs(runs[1:], ["lolr"]), "opt", compare="optimizer")
    assert "no SGD-family run to draw" in _texts(fig) and fig.axes[0].get_legend() is None
    plt.close(fig)


def test_legends_show_the_lr_in_force_under_lr_scaling(runs):
    for batch, run in zip((32, 256), runs, strict=True):
        run["about"] = about({**run_defaults(), "lr": 0.1, "batch_size": batch, "lr_scaling": "sqrt_batch"})
        run["label"] = f"batch_size={batch}"
    fig = draw("gamma", load_runs(runs, ["gamma"]), "bs", compare="batch_size")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    title = fig.get_suptitle()
    plt.close(fig)
    # 0.1 × √(32/64) and 0.1 × √(256/64)
    assert legend == ["batch_size=32 (lr 0.0707107 in force)", "batch_size=256 (lr 0.2 in force)"]
    assert "lr 0.0707107/0.2 — varies: batch_size" in title
