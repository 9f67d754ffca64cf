"""dataset text and model hf:<type>: the corpus forms, packing, the errors before any job.
examples/gpt2_text.yaml runs end to end in test_examples.py."""
import importlib.util
import json
import shutil

import pandas as pd
import pytest
import torch
import yaml

from nowrongturns.config import ConfigError, load
from nowrongturns.tasks.loaders.text_corpus import load_corpus

from .conftest import ROOT, example_module

pytest.importorskip("transformers", reason="needs the hf extra: pip install -e '.[hf]'")

make_text = example_module("make_text")
EXAMPLE = ROOT / "examples/gpt2_text.yaml"


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    """(corpus folder, tokenizer folder): 200 training sentences and a 300-token byte-level BPE trained on them."""
    root = tmp_path_factory.mktemp("text")
    corpus = make_text.write_corpus(root / "corpus", lines=200)
    return corpus, make_text.train_tokenizer(corpus, root / "tokenizer", vocab=300)


def lines(corpus, split):
    return (corpus / f"{split}.txt").read_text().splitlines()


def as_form(corpus, form, dest):
    """The same documents in another on-disk form: parquet, jsonl, json or save_to_disk."""
    dest.mkdir()
    docs = {split: lines(corpus, split) for split in ("train", "validation")}
    if form == "save_to_disk":
        from datasets import Dataset, DatasetDict

        DatasetDict({s: Dataset.from_dict({"text": d}) for s, d in docs.items()}).save_to_disk(str(dest))
    for split, d in docs.items():
        if form == "parquet":
            pd.DataFrame({"text": d, "id": range(len(d))}).to_parquet(dest / f"{split}.parquet")
        elif form == "jsonl":
            (dest / f"{split}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in d))
        elif form == "json":
            (dest / f"{split}.json").write_text(json.dumps([{"text": t} for t in d]))
    return dest


@pytest.mark.parametrize("form", ["parquet", "jsonl", "json", "save_to_disk"])
def test_every_form_packs_the_same_blocks(tmp_path, text, form):
    corpus, tokenizer = text
    expected = load_corpus(corpus, 16, str(tokenizer))
    found = load_corpus(as_form(corpus, form, tmp_path / form), 16, str(tokenizer))
    assert torch.equal(found.train, expected.train) and torch.equal(found.validation, expected.validation)


def test_blocks_are_the_token_stream_cut_with_end_of_text_after_each_document(text):
    from transformers import AutoTokenizer

    corpus, folder = text
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    stream = [i for doc in lines(corpus, "train") for i in [*tokenizer(doc)["input_ids"], tokenizer.eos_token_id]]
    packed = load_corpus(corpus, 16, str(folder))
    assert packed.vocab_size == 300 and packed.train.shape == (len(stream) // 16, 16)
    assert packed.train.flatten().tolist() == stream[:packed.train.numel()]
    words = load_corpus(corpus, 16)  # the word vocabulary: ids in order of first appearance, <eos> after each line
    first = lines(corpus, "train")[0].split() + ["<eos>"]
    assert words.train.flatten()[:len(first)].tolist() == [first.index(w) for w in first]


# -- bad input, before any job --------------------------------------------------------------------------
def config(results, corpus_dir, tokenizer_dir, **base) -> dict:
    cfg = yaml.safe_load(EXAMPLE.read_text())
    cfg["results"] = str(results)
    cfg["studies"]["gpt2"]["base"].update(data_dir=str(corpus_dir), tokenizer=str(tokenizer_dir))
    cfg["studies"]["gpt2"]["base"].update(base)
    del cfg["studies"]["gpt2"]["overrides"]  # one run: errors name studies.gpt2.base
    return cfg


@pytest.mark.parametrize("base, key, message", [
    ({"model": "hf:gpt3"}, "model", "transformers has no model type 'gpt3'; did you mean .*gpt2"),
    ({"model_args": {"n_layers": 2}}, "model_args", "GPT2Config has no field 'n_layers'"),
    ({"model_args": {"vocab_size": 100}}, "tokenizer", "gives 300 token ids, but the model's vocab_size is 100"),
    ({"tokenizer": "nowhere"}, "tokenizer", "no such folder"),
    ({"model": "timm:resnet18"}, "model", "dataset 'text' takes model hf:<name>"),
])
def test_a_bad_language_model_is_refused_before_any_job(tmp_path, text, base, key, message):
    corpus, tokenizer = text
    with pytest.raises(ConfigError, match=rf"config key studies.gpt2.base.{key} = .*{message}"):
        load(config(tmp_path / "results", corpus, tokenizer, **base))


def test_a_corpus_without_a_validation_split_is_refused_before_any_job(tmp_path, text):
    corpus = shutil.copytree(text[0], tmp_path / "corpus")
    (corpus / "validation.txt").rename(corpus / "test.txt")
    with pytest.raises(ConfigError, match=r"studies.gpt2.base.data_dir = .*no validation split: expected "):
        load(config(tmp_path / "results", corpus, text[1]))


def test_a_missing_extra_says_which_install_fixes_it(tmp_path, text, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name, *a))
    with pytest.raises(ConfigError, match=r"model = 'hf:gpt2': needs transformers, which is not installed; "
                                          r"pip install 'nowrongturns\[hf\]'"):
        load(config(tmp_path / "results", *text))


def test_a_config_folder_names_the_run_by_its_content(tmp_path, text):
    from transformers import GPT2Config

    folder = tmp_path / "my_gpt"
    GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=64).save_pretrained(folder)
    pipe = load(config(tmp_path / "results", *text, model=f"hf:{folder}", model_args={"n_head": 4}), read_data=False)
    ((run_id, run),) = pipe.runs.items()
    assert run.settings["model"] == "hf:gpt2" and run_id.startswith("text-hf-gpt2-adamw")
    assert run.settings["model_args"]["n_layer"] == 1 and run.settings["model_args"]["n_head"] == 4  # ours win
    moved = shutil.copytree(folder, tmp_path / "elsewhere")
    moved_cfg = config(tmp_path / "results", *text, model=f"hf:{moved}", model_args={"n_head": 4})
    assert list(load(moved_cfg, read_data=False).runs) == [run_id]
