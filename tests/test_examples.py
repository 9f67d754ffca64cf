"""The examples (examples/*.yaml) through Snakemake end to end: the plug-in task, fine-tuning it from init_from,
a timm ViT on an image folder and a transformers GPT-2 on local text, each cut to a few steps an epoch on data
the test writes. The four run as the studies of one workflow, so that CI pays for one Snakemake start and
one DAG on its two cores; each test reads its own study's outcome."""
import json
import shutil

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from nowrongturns.cli import main
from nowrongturns.config import load
from nowrongturns.tasks.loaders.text_corpus import load_corpus
from nowrongturns.train.engine import Trainer

from .conftest import ROOT, example_module
from .workflow import snakemake, without_torch, write

pytest.importorskip("timm", reason="needs the timm extra: pip install -e '.[timm]'")
pytest.importorskip("transformers", reason="needs the hf extra: pip install -e '.[hf]'")
pytestmark = pytest.mark.slow

PLUGIN = ROOT / "examples" / "plugin_task.py"
# Each example's one study, cut down: its seed-0 run only, 2 epochs of 2 to 6 steps (Spirals 4 epochs, so
# that its replay is two segments), and the figures gamma and full_batch.
SHRINK = {
    "plugin": {"task": f"{PLUGIN}:Spirals", "task_args": {"points": 60, "width": 8}, "batch_size": 25, "epochs": 4},
    "finetune": {"task": f"{PLUGIN}:Spirals", "task_args": {"points": 60, "width": 8, "data_seed": 1, "noise": 0.3},
                 "batch_size": 25, "epochs": 2},
    "vit_image_folder": {"epochs": 2, "batch_size": 6},  # 12 training images: 2 steps an epoch
    "gpt2_text": {"epochs": 2, "block_size": 16, "batch_size": 32},
}
FIGURES = {"finetune": ["gamma"]}


def example_study(example: str, **data) -> tuple[str, dict]:
    ((name, study),) = yaml.safe_load((ROOT / "examples" / f"{example}.yaml").read_text())["studies"].items()
    study["base"].update(SHRINK[example], **data)
    del study["overrides"], study["compare"]
    study["figures"] = FIGURES.get(example, ["gamma", "full_batch"])
    return name, study


def examples_config(work, shapes, corpus, tokenizer, init_from) -> dict:
    studies = dict([example_study("plugin"), example_study("finetune", init_from=str(init_from)),
                    example_study("vit_image_folder", data_dir=str(shapes)),
                    example_study("gpt2_text", data_dir=str(corpus), tokenizer=str(tokenizer))])
    return {"results": str(work / "results"), "measure": {"checkpoint_every": 2}, "studies": studies}


def start_weights(cfg, path):
    """Weights for the fine-tuning study to start from: its model from another seed (seed 7), untrained."""
    pipe = load(cfg, read_data=False)  # the file is not written yet
    run = pipe.runs[pipe.studies["finetune"].runs[0]]
    save_file(Trainer({**run.settings, "seed": 7, "init_from": None}).model.state_dict(), str(path))
    return path


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """(workdir, config, {study: run folder}) after one Snakemake run of the four examples."""
    work = tmp_path_factory.mktemp("examples")
    shapes = example_module("make_shapes").write_shapes(work / "shapes", train=4, val=2)
    make_text = example_module("make_text")
    corpus = make_text.write_corpus(work / "corpus", lines=200)
    tokenizer = make_text.train_tokenizer(corpus, work / "tokenizer", vocab=300)
    cfg = examples_config(work, shapes, corpus, tokenizer, work / "w_start.safetensors")
    start_weights(cfg, work / "w_start.safetensors")
    write(work / "config.yaml", cfg)
    snakemake(work)
    pipe = load(cfg)  # the checks' verdicts and the data's fingerprints are kept: nothing is judged again
    runs = {name: work / "results/runs" / study.runs[0] for name, study in pipe.studies.items()}
    return work, cfg, runs


def check_outcome(examples, study, steps_expected, history_columns):
    """Drift 0, the step table's columns and length, the reference's history, and each of the study's figures."""
    work, cfg, runs = examples
    drift = json.loads((runs[study] / "drift.json").read_text())
    assert drift["max_drift"] == 0.0 and drift["max_buffer_drift"] == 0.0
    steps = pd.read_parquet(runs[study] / "steps.parquet")
    assert {"epoch", "rsi", "eb", "gamma", "loss"} <= set(steps.columns) and len(steps) == steps_expected
    assert steps[["rsi", "eb", "gamma"]].notna().all().all()
    assert set(history_columns) <= set(pd.read_parquet(runs[study] / "reference/history.parquet").columns)
    for kind in cfg["studies"][study]["figures"]:
        assert list((work / "results/figures").glob(f"{study}-*/{kind}.png")), (study, kind)
    if "full_batch" in cfg["studies"][study]["figures"]:
        full_batch = pd.read_parquet(runs[study] / "full_batch.parquet")
        assert {"gamma", "gamma_minibatch", "noise_share"} <= set(full_batch.columns)
    return drift


def test_the_plugin_example_replays_exactly_in_two_segments(examples):
    drift = check_outcome(examples, "spirals", 4 * (150 // 25), ["val_acc"])  # 150 training points, by 25
    assert len(drift["segments"]) == 2


def test_the_vit_example_replays_exactly(examples):
    work, _, runs = examples
    assert runs["vit"].name.startswith("imagefolder-timm-vittinypatch16224-adamw-lr0.002-bs6-e2-s0-")
    check_outcome(examples, "vit", 2 * (12 // 6), ["val_acc", "val_loss"])
    # Decoded by the first job on the folder and kept for the others (replay included, whose drift is 0).
    assert len(list(work.glob("results/.cache/data/image_folder-*.pt"))) == 1


def test_the_gpt2_example_replays_exactly(examples):
    work, cfg, runs = examples
    base = cfg["studies"]["gpt2"]["base"]
    assert runs["gpt2"].name.startswith("text-hf-gpt2-adamw-lr0.003-bs32-e2-s0-")
    blocks = len(load_corpus(base["data_dir"], 16, base["tokenizer"]).train)
    check_outcome(examples, "gpt2", 2 * (blocks // 32), ["val_loss", "val_ppl"])
    assert len(list(work.glob("results/.cache/data/text-*.pt"))) == 1  # tokenized once, kept for the other jobs


def test_fine_tuning_starts_from_the_file_and_replays_exactly(examples):
    work, cfg, runs = examples
    check_outcome(examples, "finetune", 2 * (150 // 25), ["val_acc"])
    w0 = torch.load(runs["finetune"] / "reference/checkpoints/epoch_0000.pt", weights_only=False)["model"]
    start = load_file(cfg["studies"]["finetune"]["base"]["init_from"])
    assert w0.keys() == start.keys() and all(torch.equal(w0[k], v) for k, v in start.items())
    # The weights command writes a run's w*, bit for bit, for a next run's init_from (examples/finetune.yaml).
    out = work / "w_star.safetensors"
    assert main(["weights", str(work / "config.yaml"), runs["spirals"].name, str(out)]) == 0
    w_star = torch.load(runs["spirals"] / "reference/checkpoints/epoch_0004.pt", weights_only=False)["model"]
    exported = load_file(out)
    assert exported.keys() == w_star.keys() and all(torch.equal(exported[k], v) for k, v in w_star.items())


def test_the_same_code_and_data_elsewhere_are_the_same_runs(examples):
    """A copied plug-in file, image folder and corpus name the same runs: nothing to do, and planning imports
    no torch (nor timm, nor transformers)."""
    work, cfg, _ = examples
    moved = json.loads(json.dumps(cfg))
    shutil.copy(PLUGIN, work / "mine.py")
    for study in ("spirals", "finetune"):
        moved["studies"][study]["base"]["task"] = f"{work / 'mine.py'}:Spirals"
    for study, key in (("vit", "data_dir"), ("gpt2", "data_dir"), ("gpt2", "tokenizer")):
        folder = moved["studies"][study]["base"][key]
        moved["studies"][study]["base"][key] = str(shutil.copytree(folder, work / "moved" / key / study))
    write(work / "moved.yaml", moved)
    dry = snakemake(work, "-n", "--configfile", "moved.yaml", env=without_torch(work / "shadow"))
    assert "Nothing to be done" in dry.stdout
