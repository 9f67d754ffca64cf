"""What a causal language model from Hugging Face transformers (model: hf:...) takes from folders, read when the
config is: torch-free and without importing transformers.

- `model: hf:<folder>`: the folder's config.json (as save_pretrained writes it) becomes the model type and the
  model_args, so the run is named by the config's content, not by the folder's path; the study's own model_args
  override the file's fields.
- `tokenizer: <folder>`: fingerprinted like a data folder; its content joins the run's identity, its path does not.
"""
from __future__ import annotations

import json
from pathlib import Path

from nowrongturns.config.errors import ConfigError

# Fields save_pretrained writes that describe the file, not the model.
_NOT_ARGS = ("model_type", "architectures", "transformers_version", "_name_or_path", "torch_dtype", "dtype")


def resolve_model_folder(settings: dict, where: str) -> None:
    """hf:<folder> becomes hf:<model type>, the folder's config.json joining model_args; hf:<type> is left as is."""
    zoo, _, name = settings["model"].partition(":")
    if zoo != "hf" or not ("/" in name or Path(name).is_dir()):
        return
    path = Path(name) / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config key {where}.model = {settings['model']!r}: {path} does not exist; expected "
                          f"hf:<model type> (gpt2, llama, ...) or hf:<folder holding config.json>") from None
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"config key {where}.model = {settings['model']!r}: {path} is not readable JSON ({e})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise ConfigError(f"config key {where}.model = {settings['model']!r}: {path} names no model_type")
    args = {k: v for k, v in config.items() if k not in _NOT_ARGS}
    settings["model"] = f"hf:{config['model_type']}"
    settings["model_args"] = {**args, **settings["model_args"]}


def tokenizer_fingerprint(settings: dict, cache_dir: str, where: str) -> str | None:
    """The digest of the tokenizer folder's content, or None for the word vocabulary."""
    from nowrongturns.storage.fingerprint import fingerprint

    folder = settings.get("tokenizer")
    if folder is None:
        return None
    if not Path(folder).is_dir():
        raise ConfigError(f"config key {where}.tokenizer = {folder!r}: no such folder; expected a tokenizer folder "
                          f"(tokenizer.json, or what a transformers tokenizer's save_pretrained writes)")
    return fingerprint(folder, cache_dir).digest
