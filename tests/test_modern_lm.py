"""presets/modern/modern_lm.yaml reduced: the same studies and analyses (AdamW and momentum, cosine and WSD,
bf16 autocast, update geometry, sharpness, full-batch γ), on a generated WikiText-2-format corpus, a tiny
Transformer, 2 epochs on the CPU, through Snakemake."""
import json

import numpy as np
import pandas as pd
import yaml

from nowrongturns.config import load

from .conftest import ROOT
from .workflow import snakemake, write

PRESET = ROOT / "presets/modern/modern_lm.yaml"
TINY = {"emsize": 16, "nhead": 2, "nhid": 16, "nlayers": 1, "bptt": 8, "batch_size": 4, "epochs": 2,
        "device": "cpu"}


def corpus(folder, words: int):
    """A WikiText-2-format corpus: `words` words of a 200-word vocabulary in train, a tenth as many in valid."""
    folder.mkdir(parents=True)
    for split, n in (("train", words), ("valid", words // 10), ("test", words // 10)):
        (folder / f"wiki.{split}.tokens").write_text(" ".join(f"w{(7 * i) % 200}" for i in range(n)) + "\n")
    return folder


def reduced(data_dir) -> dict:
    cfg = yaml.safe_load(PRESET.read_text())
    # Both epochs in the figures and findings (the final one too): 2 epochs would otherwise show one.
    cfg.update(results="results", figures={"formats": ["png"], "dpi": 50, "drop_final_epoch": False})
    cfg["defaults"].update(TINY, data_dir=str(data_dir))
    cfg["measure"].update(checkpoint_every=1, drift_tolerance=0.0, full_batch_every=1,
                          sharpness={"every_epochs": 1, "iterations": 10, "batches": 2})
    cfg["resources"].update(gpu=0, mem_mb=2000)
    wsd = cfg["studies"]["schedules"]["overrides"][1]
    wsd["warmup_steps"] = 31  # one epoch of the corpus below: 1,000 words in 4 columns, windows of 8
    return cfg


def test_reduced_modern_lm_study_runs_and_reports_update_and_sharpness(tmp_path):
    cfg = reduced(corpus(tmp_path / "wikitext2", 1000))
    write(tmp_path / "config.yaml", cfg)
    snakemake(tmp_path)
    pipe = load(cfg)
    runs = tmp_path / "results/runs"
    assert len(pipe.runs) == 3  # AdamW with cosine is in both studies
    for run_id, run in pipe.runs.items():
        assert run.settings["precision"] == "bf16"
        assert json.loads((runs / run_id / "drift.json").read_text())["max_drift"] == 0.0
        epochs = pd.read_parquet(runs / run_id / "epochs.parquet")
        assert epochs[["gamma_mean", "cos_u_d_mean", "u_rsi_mean"]].notna().all().all()
        sharpness = pd.read_parquet(runs / run_id / "sharpness.parquet")
        assert list(sharpness["epoch"]) == [0, 1] and (sharpness["lambda_max"] > 0).all()
        blocks = pd.read_parquet(runs / run_id / "blocks.parquet")  # embedding, attention, ..., decoder
        assert blocks["block"].nunique() >= 5 and set(blocks["epoch"]) == {0, 1}
        assert np.allclose(blocks.groupby("epoch")["d_share_mean"].sum(), 1.0, rtol=1e-9)
    history = pd.read_parquet(runs / pipe.studies["schedules"].runs[1] / "reference/history.parquet")
    assert history["lr"].iloc[-1] < 1e-3  # the WSD run cooled down
    (page,) = (tmp_path / "results/report").glob("findings-*.md")
    text = page.read_text()
    for section in ("schedules: update", "schedules: sharpness", "schedules: blocks", "schedules: schedules",
                    "optimizers: update", "optimizers: sharpness", "optimizers: blocks", "optimizers: full_batch"):
        assert f"## {section}" in text, section
    print(text)  # the numbers the closing note quotes
