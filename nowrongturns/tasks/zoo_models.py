"""Models from a model zoo by name, never with hub weights (pretrained weights come from init_from, a local file):

- `model: timm:<name>` is timm.create_model(name, num_classes=<classes>, **model_args);
- `model: hf:<model type>` is transformers' AutoModelForCausalLM.from_config(<the type's config>(**model_args)),
  its vocab_size the tokenizer's unless model_args sets one (config/hf_config.py turns hf:<folder> into a type).

verdict() is the check the config runs once per distinct (model, model_args) before any job
(config/run_checks.py, config/subprocess_check.py): it builds the model on the meta device, so even a large
one costs no memory. Its verdict: {"ok": true} or {"ok": false, "key": ..., "error": ...}.
"""
from __future__ import annotations

import difflib

import torch
from torch import nn

CHECK_CLASSES = 10  # any number does to check a name and its arguments


class ZooError(ValueError):
    """A zoo model that cannot be built; key: the run setting at fault (model or model_args)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def build(model: str, num_classes: int, model_args: dict) -> nn.Module:
    """num_classes: the data set's classes (timm), or the tokenizer's vocabulary size (hf)."""
    zoo, _, name = model.partition(":")
    if zoo == "hf":
        return _causal_lm(name, num_classes, model_args)
    if zoo != "timm":
        raise ZooError("model", f"no model zoo {zoo!r}; expected timm:<name> or hf:<model type>")
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        raise ZooError("model", f"timm {timm.__version__} has no model {name!r}"
                       + (f"; did you mean {', '.join(close)}?" if close else " (timm.list_models() lists them)"))
    if "pretrained" in model_args or "num_classes" in model_args:
        raise ZooError("model_args", "pretrained and num_classes are not model_args: weights come from init_from "
                       "(a local file), the number of classes from the data set")
    try:
        return timm.create_model(name, pretrained=False, num_classes=num_classes, **model_args)
    except (TypeError, ValueError, AssertionError) as e:
        raise ZooError("model_args", f"timm could not build {name} with these arguments: "
                       f"{type(e).__name__}: {e}") from e


def hf_config(name: str, vocab_size: int, model_args: dict):
    """The transformers config of model type `name` with model_args; vocab_size unless model_args sets one."""
    from transformers import CONFIG_MAPPING

    if name not in CONFIG_MAPPING:
        close = difflib.get_close_matches(name, list(CONFIG_MAPPING.keys()), n=3)
        raise ZooError("model", f"transformers has no model type {name!r}"
                       + (f"; did you mean {', '.join(close)}?" if close else ""))
    config_class = CONFIG_MAPPING[name]
    known = set(config_class().to_dict())  # a config takes any keyword silently: a typo would go unseen

    unknown = sorted(set(model_args) - known)
    if unknown:
        raise ZooError("model_args", f"{config_class.__name__} has no field {', '.join(map(repr, unknown))}")
    defaults = config_class().to_dict()
    # Special token ids matter to generation only; a default beyond a small vocabulary would be out of range.
    special = {k: None for k in ("bos_token_id", "eos_token_id", "pad_token_id")
               if isinstance(defaults.get(k), int) and k not in model_args}
    return config_class(**{"vocab_size": vocab_size, **special, **model_args})


def _causal_lm(name: str, vocab_size: int, model_args: dict) -> nn.Module:
    from transformers import AutoModelForCausalLM

    config = hf_config(name, vocab_size, model_args)
    try:
        return AutoModelForCausalLM.from_config(config)
    except (ValueError, TypeError, KeyError) as e:
        raise ZooError("model", f"transformers cannot build a causal language model of type {name!r}: {e}") from e


def tokenizer_size(folder: str) -> int:
    """The number of token ids a local tokenizer folder gives (len(tokenizer): its vocabulary and added tokens)."""
    from transformers import AutoTokenizer

    try:
        return len(AutoTokenizer.from_pretrained(folder, local_files_only=True))
    except (OSError, ValueError, TypeError) as e:
        raise ZooError("tokenizer", f"no tokenizer could be read from {folder}: {type(e).__name__}: {e}") from e


def check_vocabulary(model_vocab: int, tokens: int, folder: str) -> None:
    if tokens > model_vocab:
        raise ZooError("tokenizer", f"{folder} gives {tokens} token ids, but the model's vocab_size is "
                       f"{model_vocab}: set model_args.vocab_size to at least {tokens}, or leave it out to take "
                       f"the tokenizer's")


def verdict(request: dict) -> dict:
    try:
        vocab = CHECK_CLASSES
        if request.get("tokenizer"):
            vocab = tokenizer_size(request["tokenizer"])
            check_vocabulary(request["model_args"].get("vocab_size", vocab), vocab, request["tokenizer"])
        with torch.device("meta"):
            build(request["model"], vocab, request["model_args"])
    except ZooError as e:
        return {"ok": False, "key": e.key, "error": str(e)}
    return {"ok": True}
