"""The whole default study through Snakemake, reduced, in a temporary folder.

Checks every table's columns and finiteness, the figures, the four caching
behaviours (from Snakemake's dry-run job list), bad input and lint.
"""
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from nowrongturns.config import (
    figure_hash,
    findings_hash,
    load,
    overview_hash,
    runs_hash,
    table_hash,
    trajectory_settings,
)
from nowrongturns.config.figure_kinds import FULL_BATCH_MODES
from nowrongturns.logs import cpu
from nowrongturns.stats import EPOCH_METRICS
from nowrongturns.storage import paths

from .conftest import ROOT, run_cli
from .workflow import job_stats, reduced_default_config, snakemake, write

pytestmark = pytest.mark.slow
STEP_COLUMNS = ["run_id", "epoch", "step", "lr", "loss", "g_dot_d", "g_norm", "d_norm", "rsi", "eb", "gamma",
                "lolr", "u_norm", "u_dot_d", "cos_u_d"]
WD_COLUMNS = ["wd_g_dot_d", "wd_g_norm", "wd_rsi", "wd_eb", "wd_gamma", "wd_lolr"]


def planned_jobs(workdir) -> dict:
    """Snakemake's dry-run job list as {rule: count}; empty when nothing is to be done."""
    out = snakemake(workdir, "--dry-run").stdout
    return {} if "Nothing to be done" in out else job_stats(out)


@pytest.fixture(scope="module")
def study(local_reduced_study, tmp_path_factory):
    """A copy of the session's reduced study (with Snakemake's records, so that it is up to date), which
    test_caching_behaviours may edit and rerun."""
    work = tmp_path_factory.mktemp("study") / "work"
    shutil.copytree(local_reduced_study, work, symlinks=True)
    return work, reduced_default_config()


def test_tables_have_their_columns_and_are_finite(study):
    work, cfg = study
    pipe = load(cfg)
    assert len(pipe.runs) == 13
    for run_id, run in pipe.runs.items():
        base = work / "results" / "runs" / run_id
        steps = pd.read_parquet(base / "steps.parquet")
        spe = len(steps) // run.settings["epochs"]
        assert list(steps.columns[:len(STEP_COLUMNS)]) == STEP_COLUMNS
        assert (run.settings["weight_decay"] > 0) == all(c in steps.columns for c in WD_COLUMNS)
        assert list(steps["step"]) == list(range(run.settings["epochs"] * spe))
        # γ and loLR divide by ‖G‖: undefined exactly where a minibatch has no gradient at all,
        # which the ALM (a hinge) has when every residual of the batch is negative.
        undefined = steps["g_norm"] == 0
        assert not undefined.any() or run.settings["model"] == "alm", run_id
        finite = np.isfinite(steps.drop(columns="run_id").to_numpy(dtype=float))
        assert finite[~undefined.to_numpy()].all(), run_id
        assert steps.loc[undefined, ["gamma", "lolr"]].isna().all().all()

        epochs = pd.read_parquet(base / "epochs.parquet")
        for m in EPOCH_METRICS:
            for stat in ("mean", "std", "min", "max", "q05", "q50", "q95"):
                assert f"{m}_{stat}" in epochs.columns
        assert list(epochs["final_epoch"]) == [False] * (run.settings["epochs"] - 1) + [True]
        assert np.isfinite(epochs.select_dtypes("number").to_numpy(dtype=float)).all(), run_id

        lolr = pd.read_parquet(base / "lolr.parquet")
        assert {"lolr_mean", "lolr_median", "lr", "ratio_mean", "ratio_median"} <= set(lolr.columns)
        drift = json.loads((base / "drift.json").read_text())
        assert drift["max_drift"] == 0.0  # exact replay on CPU
        history = pd.read_parquet(base / "reference" / "history.parquet")
        assert len(history) == run.settings["epochs"]
        for log in ("reference", "measure_segment_0"):
            text = (base / "logs" / f"{log}.log").read_text()
            assert "steps/s" in text and "eta" in text and "device cpu" in text
            # The first line says where the job ran, the CPU included: the CPU sums' last bits follow it.
            assert f"cpu={cpu()!r}" in text.splitlines()[0]


def test_analyses_beyond_the_paper_write_their_tables(study):
    work, cfg = study
    pipe = load(cfg)
    runs = work / "results/runs"
    assert {t for tables in pipe.tables.values() for t in tables} == {"full_batch", "forks", "path", "sharpness"}
    for run_id, tables in pipe.tables.items():
        if "full_batch" in tables:
            fb = pd.read_parquet(runs / run_id / "full_batch.parquet")
            assert {"epoch", "mode", "target", "loss", "rsi", "eb", "gamma", "lolr", "gamma_minibatch",
                    "noise_share"} <= set(fb.columns)
            forks = [f"at{f['at_epoch']}-seed{f['seed']}" for f in pipe.runs[run_id].settings.get("forks", [])]
            assert set(fb["mode"]) == set(FULL_BATCH_MODES) and set(fb["target"]) == {"w*", *forks}
            own = fb[fb["target"] == "w*"]
            assert sorted(own["epoch"].unique()) == [0, 1, 2, 3]  # full_batch_every 1
            assert np.isfinite(own[["gamma", "gamma_minibatch", "loss"]].to_numpy()).all()
            # A share of E‖G‖² by Jensen's inequality, unclipped: no value outside [0, 1], NaN in eval mode only.
            share = fb.set_index("mode")["noise_share"]
            assert share.loc["eval"].isna().all() and share.drop("eval").between(0, 1).all(), run_id
            if pipe.runs[run_id].settings["augment"]:  # the CNN: the last epoch's own draws build w* ...
                last = own[own["epoch"] == 3].set_index("mode")["gamma"]
                # ... so their full-batch γ keeps the self-inclusion bias that independent draws do not.
                assert last["train_own_draws"] > last["train_independent"], last
        if "forks" in tables:
            table = pd.read_parquet(runs / run_id / "forks.parquet")
            (fork,) = pipe.runs[run_id].settings["forks"]
            assert list(table["epoch"]) == list(range(fork["at_epoch"], 4))
            assert np.isfinite(table[["gamma_own_mean", "gamma_fork_mean", "random_walk_gamma_own"]].to_numpy()).all()
            assert (runs / run_id / f"forks/at{fork['at_epoch']}-seed{fork['seed']}/reference/w_star.pt").exists()
        if "sharpness" in tables:  # the CNN: λ_max at every epoch start, beside 2/lr and the epoch's loLR
            sharp = pd.read_parquet(runs / run_id / "sharpness.parquet")
            assert list(sharp["epoch"]) == [0, 1, 2, 3] and (sharp["lambda_max"] > 0).all()
            assert np.allclose(sharp["two_over_lr"] * sharp["lr"], 2.0) and sharp["lolr_median"].notna().all()
        if "path" in tables:
            path = pd.read_parquet(runs / run_id / "path.parquet")
            assert sorted(path["from_epoch"].unique()) == [0, 2]
            assert len(path) == 2 * pipe.measure["path_points"]
            assert path["monotone"].dtype == bool and (path["max_bump"] >= 0).all()
    # The loLR schedules: lr of epoch e = 0.01 x the running median (half-width 1, shrinking at the ends) of the
    # SGD run's medians, against its own w* (no epoch of these 4 has lr >= half its median loLR, so none is
    # held) and against its fork at epoch 0.
    constant, _, _, lolr_run, fork_lolr_run = pipe.studies["schedules"].runs
    source = pd.read_parquet(runs / pipe.runs[lolr_run].settings["lolr_source"] / "lolr.parquet")
    assert pipe.runs[lolr_run].settings["lolr_source"] == constant
    assert not source["own_step_dominant"].any() and (source["own_step_share"] < 0.5).all()
    forks = pd.read_parquet(runs / constant / "forks.parquet")
    for run_id, medians in ((lolr_run, source["lolr_median"]), (fork_lolr_run, forks["lolr_fork_median"])):
        expected = 0.01 * medians.rolling(3, center=True, min_periods=1).median()
        history = pd.read_parquet(runs / run_id / "reference/history.parquet")
        assert np.allclose(history["lr"], expected, rtol=1e-15), run_id
    # The findings page quotes the tables: its full-batch means are those of full_batch.parquet.
    (page,) = (work / "results/report").glob("findings-*.md")
    text = page.read_text()
    for section in ("optimizers: full_batch", "optimizers: update", "cnn: forks", "cnn: path", "independent: forks",
                    "schedules: schedules", "random_walk: forks"):
        assert f"## {section}" in text, section
    sgd = pd.read_parquet(runs / constant / "full_batch.parquet")
    sgd = sgd[(sgd["target"] == "w*") & ~sgd["final_epoch"]]
    shown = sgd[sgd["mode"] == "train_independent"]
    assert f"| optimizer=sgd | 0–2 | {shown['gamma_minibatch'].mean():.3g} |" in text
    assert f"{shown['gamma'].mean():.3g}" in text
    assert f"Computed on: {cpu()}." in text


def test_random_walk_run_follows_closed_form(study):
    work, cfg = study
    (run_id,) = load(cfg).studies["random_walk"].runs
    steps = pd.read_parquet(work / "results/runs" / run_id / "steps.parquet")
    remaining = len(steps) - steps["step"].to_numpy()
    dim = cfg["studies"]["random_walk"]["base"]["width"]
    sigma = np.sqrt((remaining - 1) / dim + 4.0 / dim)  # derived in test_random_walk.py
    assert np.all(np.abs(steps["gamma"] * np.sqrt(remaining) - 1.0) <= 6 * sigma)


def test_figures_exist_for_every_study(study):
    work, cfg = study
    pipe = load(cfg)
    skip = ("logs", "benchmarks", "overview")
    folders = sorted(p.name for p in (work / "results/figures").iterdir() if p.name not in skip)
    assert [f.rsplit("-", 1)[0] for f in folders] == sorted(pipe.studies)
    for folder in folders:
        study_name = folder.rsplit("-", 1)[0]
        for kind in pipe.studies[study_name].figures:
            for fmt in ("png", "pdf"):
                path = work / "results/figures" / folder / f"{kind}.{fmt}"
                assert path.stat().st_size > 1000, path
    (overview,) = (work / "results/figures/overview").iterdir()  # Figure 1: one panel per study
    assert (overview / "gamma.png").stat().st_size > 1000


def _report_json(html: str, name: str):
    """A JSON object the HTML report defines as `var <name> = {...}`."""
    start = html.index(f"var {name} = {{") + len(f"var {name} = ")
    return json.JSONDecoder().raw_decode(html, start)[0]


def test_report_holds_every_figure_and_table(study):
    """snakemake --report: every figure of the study by study (category) and kind (subcategory), each with
    its caption naming its runs, the per-epoch tables and the drift summary."""
    work, cfg = study
    snakemake(work, "--report", "report.html", cores=False)
    html = (work / "report.html").read_text()
    categories, results = _report_json(html, "categories"), _report_json(html, "results")
    pipe = load(cfg)
    expected = {
        name: {
            **{kind: [paths.figure("results", name, figure_hash(pipe, s), kind, "png")] for kind in s.figures},
            "per-epoch table": [paths.study_table("results", name, table_hash(s))],
        }
        for name, s in pipe.studies.items()
    }
    assert {k: v for k, v in categories.items() if k not in ("Overview", "Replay drift", "Findings")} == expected
    overview = f"{paths.overview_dir('results', overview_hash(pipe))}/gamma.png"
    drift = paths.drift_summary("results", runs_hash(pipe))
    assert [*categories["Overview"].values()] == [[overview]]
    assert [*categories["Replay drift"].values()] == [[drift]]
    assert [*categories["Findings"].values()] == [[paths.findings("results", findings_hash(pipe))]]
    for name, kinds in expected.items():
        for (path,) in kinds.values():
            assert (work / path).stat().st_size > 1000, path
            caption = results[path]["caption"]
            assert all(r in caption for r in pipe.studies[name].runs), (path, caption[:300])
    assert "retraced its reference pass" in results[drift]["caption"]
    figures = sum(len(s.figures) for s in pipe.studies.values()) + 1
    print(f"report: {len(html) / 1e6:.1f} MB, {figures} figures, {len(pipe.studies)} study tables")


def test_figures_explain_themselves(study):
    """Each figure of the default study, read back as the figure object it was saved from: its title
    names the data set, model, optimizer and lr in force and what varies; the loLR figure draws the
    SGD family and names the rest."""
    import matplotlib.pyplot as plt

    from nowrongturns.config.describe import about
    from nowrongturns.config.figure_kinds import tables
    from nowrongturns.plots import draw, load_runs

    work, cfg = study
    pipe = load(cfg)
    for name, s in pipe.studies.items():
        for kind in s.figures:
            runs = [{"run_id": r, "label": s.labels[r], "about": about(trajectory_settings(pipe.runs[r].settings)),
                     **{t: paths.table(paths.run_dir(str(work / "results"), r), t) for t in tables(kind)}}
                    for r in s.runs]
            fig = draw(kind, load_runs(runs, [kind]), name, s.compare)
            title, note = fig.get_suptitle(), fig.get_supxlabel()
            plt.close(fig)
            settings = [pipe.runs[r].settings for r in s.runs]
            if kind == "lolr":
                settings = [x for x in settings if x["optimizer"] != "adam"]
            for key in ("dataset", "optimizer"):
                assert all(x[key] in title for x in settings), (name, kind, title)
            assert all(x["model"] in title for x in settings) and f"varies: {s.compare}" in title, (name, kind, title)
            assert "lr " in title.splitlines()[1]
            if kind == "lolr" and name == "optimizers":
                assert note.startswith("Not drawn: optimizer=adam.")


def test_caching_behaviours(study):
    work, cfg = study
    # 1. Nothing changed: nothing to do.
    assert planned_jobs(work) == {}

    # 2. One run's setting edited: only that run's chain and the figures that show it.
    edited = yaml.safe_load(yaml.safe_dump(cfg))
    edited["studies"]["optimizers"]["overrides"][1]["lr"] = 0.002  # the Adam run
    write(work / "config.yaml", edited)
    n_fig = len(cfg["studies"]["optimizers"]["figures"])
    assert planned_jobs(work) == {"reference": 1, "measure_segment": 2, "aggregate": 1, "full_batch_segment": 2,
                                  "full_batch": 1, "figure": n_fig, "overview": 1, "study_tables": 1,
                                  "drift_summary": 1, "findings": 1, "all": 1}
    snakemake(work)

    # 3. Only figure settings edited: only figures.
    fig_edit = yaml.safe_load(yaml.safe_dump(edited))
    fig_edit["figures"]["dpi"] = 70
    write(work / "config.yaml", fig_edit)
    n_all_figs = sum(len(s["figures"]) for s in cfg["studies"].values())
    assert planned_jobs(work) == {"figure": n_all_figs, "overview": 1, "all": 1}

    # 4. Both edits reverted: the old run and figure folders are still valid, nothing runs.
    write(work / "config.yaml", cfg)
    assert planned_jobs(work) == {}

    # 5. A fork edited: the fork, and what reads its endpoint (the replay and full-batch segment after it, the
    # tables they feed, among them the sharpness table through lolr.parquet, and the figures of the study);
    # the run's own reference, straight path and sharpness segments stay.
    forked = yaml.safe_load(yaml.safe_dump(cfg))
    forked["studies"]["cnn"]["base"]["forks"] = [{"at_epoch": 2, "seed": 5}]
    write(work / "config.yaml", forked)
    n_cnn = len(cfg["studies"]["cnn"]["figures"])
    assert planned_jobs(work) == {"fork": 1, "measure_segment": 1, "full_batch_segment": 1, "aggregate": 1,
                                  "full_batch": 1, "forks_table": 1, "sharpness": 1, "figure": n_cnn - 1,
                                  "overview": 1, "study_tables": 1, "drift_summary": 1, "findings": 1, "all": 1}


def test_bad_config_stops_before_any_job(tmp_path):
    cfg = reduced_default_config()
    cfg["studies"]["optimizers"]["base"]["optimizer"] = "sgdd"
    write(tmp_path / "config.yaml", cfg)
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    assert "studies.optimizers" in proc.stderr and "'sgdd'" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_diverging_run_fails_and_keep_going_finishes_the_rest(tmp_path):
    cfg = {"measure": {"checkpoint_every": 1},
           "studies": {"sm": {"base": {"dataset": "none", "model": "sinusoidal_mixture", "width": 20, "epochs": 2,
                                       "steps_per_epoch": 30},
                              "overrides": {"lr": [0.005, 1000.0]}, "compare": "lr", "figures": ["counterexamples"]}}}
    write(tmp_path / "config.yaml", cfg)
    proc = snakemake(tmp_path, "--keep-going", check=False)
    assert proc.returncode != 0
    good, bad = load(cfg).studies["sm"].runs
    assert (tmp_path / "results/runs" / good / "epochs.parquet").exists()
    log = (tmp_path / "results/runs" / bad / "logs/reference.log").read_text()
    assert re.search(r"diverged at epoch 0 step \d+", log)
    assert not (tmp_path / "results/runs" / bad / "reference/w_star.pt").exists()
    assert not (tmp_path / "results/runs" / bad / "steps.parquet").exists()


def test_lint_is_clean():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cifar10_path_end_to_end(tmp_path):
    """The CIFAR-10 path through Snakemake, on a generated 64-image fixture in the image-folder form."""
    from PIL import Image

    from nowrongturns.tasks.loaders.cifar10 import CLASSES

    rng = np.random.default_rng(0)
    data = tmp_path / "cifar10"
    for split, n in (("train", 64), ("test", 16)):
        for i in range(n):
            folder = data / split / CLASSES[i % 10]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    cfg = {"measure": {"checkpoint_every": 1},
           "studies": {"cifar": {"base": {"dataset": "cifar10", "data_dir": str(data), "model": "cifar_resnet18",
                                          "optimizer": "momentum", "lr": 0.01, "weight_decay": 1e-6,
                                          "batch_size": 16, "epochs": 2},
                                 "compare": "model"}}}
    write(tmp_path / "config.yaml", cfg)
    snakemake(tmp_path)
    (run_id,) = load(cfg).runs
    base = tmp_path / "results/runs" / run_id
    steps = pd.read_parquet(base / "steps.parquet")
    assert list(steps["step"]) == list(range(6))  # 51 training images (20% held out), batches of 16, 2 epochs
    assert list(steps.columns[:len(STEP_COLUMNS)]) == STEP_COLUMNS and set(WD_COLUMNS) <= set(steps.columns)
    assert np.isfinite(steps.drop(columns="run_id").to_numpy(dtype=float)).all()
    assert json.loads((base / "drift.json").read_text())["max_drift"] == 0.0
    assert "val_acc" in pd.read_parquet(base / "reference/history.parquet").columns
    (folder,) = [p for p in (tmp_path / "results/figures").iterdir() if p.name.startswith("cifar-")]
    assert all((folder / f"{kind}.png").stat().st_size > 1000 for kind in ("gamma", "stacked", "lolr", "distance"))

    # The data moved, read another way: no run changes, nothing reruns (runtime settings are not params).
    import shutil

    moved = tmp_path / "elsewhere" / "cifar"
    shutil.copytree(data, moved)
    shutil.rmtree(data)
    cfg["studies"]["cifar"]["base"].update(data_dir=str(moved), data_path="loader", num_workers=1,
                                           eval_batch_size=7)
    write(tmp_path / "config.yaml", cfg)
    assert list(load(cfg).runs) == [run_id]
    assert planned_jobs(tmp_path) == {}
    # Its content changed under the same path: refused at start-up, naming the file.
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(moved / "train" / CLASSES[0] / "0.png")
    proc = snakemake(tmp_path, "--dry-run", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"data folder {moved} changed since this results folder recorded it" in out
    assert "1 changed (train/airplane/0.png: " in out


def test_epoch_budgets_share_one_reference_and_one_replay(tmp_path):
    """With a constant lr, the 2-epoch run is a prefix of the 4-epoch run: one reference pass and one
    replay serve both, and the 2-epoch tables equal those of the 2-epoch run computed on its own. Each
    replay segment written by `nowrongturns measure` equals, byte for byte, the one the rule wrote: the
    same job builder gives both their w* targets and forks."""
    base = {"model": "mlp", "width": 16, "optimizer": "momentum", "lr": 0.05, "weight_decay": 1e-4,
            "forks": [{"at_epoch": 1, "seed": 1}]}
    shared = {"measure": {"checkpoint_every": 2, "path_from": [1], "path_points": 3},
              "figures": {"formats": ["png"], "dpi": 50},
              "studies": {"budgets": {"base": base, "overrides": {"epochs": [2, 4]}, "compare": "epochs",
                                      "figures": ["gamma", "forks", "full_batch", "path"]}}}
    work = tmp_path / "shared"
    work.mkdir()
    write(work / "config.yaml", shared)
    assert planned_jobs(work) == {"reference": 1, "prefix_reference": 1, "measure_segment": 2, "aggregate": 2,
                                  "fork": 2, "forks_table": 2, "full_batch_segment": 2, "full_batch": 2,
                                  "straight_path": 2, "figure": 4, "overview": 1, "study_tables": 1,
                                  "drift_summary": 1, "findings": 1, "all": 1}
    snakemake(work)

    pipe = load(shared)
    (trunk,) = {pipe.trunk[r] for r in pipe.runs}
    for segment in (0, 1):  # segment 0 measures against both budgets' w* and forks, segment 1 the 4-epoch run's
        table = work / paths.segment(paths.run_dir(pipe.results, trunk), segment)
        by_rule = table.read_bytes()
        table.unlink()
        run_cli("measure", work / "config.yaml", trunk, segment, cwd=work)
        assert table.read_bytes() == by_rule, f"segment {segment}"

    alone = {**shared, "studies": {"budgets": {"base": {**base, "epochs": 2}, "figures": ["gamma"]}}}
    work_alone = tmp_path / "alone"
    work_alone.mkdir()
    write(work_alone / "config.yaml", alone)
    snakemake(work_alone)
    (run_id,) = load(alone).runs
    assert run_id in pipe.runs
    for table in ("steps.parquet", "epochs.parquet", "lolr.parquet", "reference/history.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(work / "results/runs" / run_id / table),
                                      pd.read_parquet(work_alone / "results/runs" / run_id / table))
