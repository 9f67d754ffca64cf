"""Pretrained starts (run settings init_from, init_prefix_map): training begins from given weights.

The file is a safetensors file, or a torch file holding a state dict (or a dict with one under "model" or
"state_dict", as this pipeline's checkpoints and most training scripts write). init_prefix_map renames
the file's keys before they are matched with the model's: {"module.": ""} strips a DataParallel prefix,
{"fc.": null} drops a head that the new task replaces. Every tensor left must exist in the model with
the same shape; a model tensor the file does not hold keeps its seeded initialisation.

verdict() is the check the config runs before any job (config/subprocess_check.py): it builds the run's
model on the CPU and matches the file against it.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from nowrongturns.config.pretrained_file import file_digest

log = logging.getLogger("nowrongturns")


class PretrainedMismatch(ValueError):
    """init_from weights that do not fit the model; the message names the first tensor at fault."""


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise PretrainedMismatch(f"{path}: reading safetensors files needs the safetensors package "
                                     f"(pip install safetensors)") from None
        return load_file(path)
    obj = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)} if isinstance(obj, dict) else {}
    if not tensors:
        raise PretrainedMismatch(f"{path} holds no state dict (a mapping of names to tensors, or one under "
                                 f"'model' or 'state_dict')")
    return tensors


def renamed(tensors: dict, prefix_map: dict) -> dict:
    """The file's tensors under the model's names: each key's longest matching prefix replaced (None: dropped)."""
    out = {}
    for key, value in tensors.items():
        match = max((p for p in prefix_map if key.startswith(p)), key=len, default=None)
        if match is None:
            out[key] = value
        elif prefix_map[match] is not None:
            out[prefix_map[match] + key[len(match):]] = value
    return out


def matched(model: nn.Module, tensors: dict, source: str) -> dict:
    """The file's tensors that the model takes, checked: a name the model lacks or a shape that differs is an
    error naming the first such tensor."""
    own = model.state_dict()
    if not tensors:
        raise PretrainedMismatch(f"{source}: init_prefix_map drops every tensor of the file")
    unknown = [k for k in tensors if k not in own]
    if unknown:
        raise PretrainedMismatch(f"{source}: the model has no tensor {unknown[0]!r} ({len(unknown)} of the file's "
                                 f"{len(tensors)} are unknown to it, e.g. {', '.join(unknown[:3])}; its own begin "
                                 f"{', '.join(list(own)[:3])}); rename them with init_prefix_map, or drop them "
                                 f"with a prefix mapped to null")
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(own[name].shape):
            raise PretrainedMismatch(f"{source}: {name} has shape {list(value.shape)} in the file and "
                                     f"{list(own[name].shape)} in the model")
    return tensors


def start_from(model: nn.Module, path: str, prefix_map: dict, digest: str | None = None) -> None:
    """Copy the file's weights into the model (in place: flat views stay valid), logging what kept its init.
    digest: the file's when the run was planned; a file changed since is an error (the run would be another)."""
    if digest is not None and file_digest(path) != digest:
        raise PretrainedMismatch(f"init_from {path} changed after Snakemake planned this run (digest "
                                 f"{file_digest(path)}, planned {digest}); rerun Snakemake")
    tensors = matched(model, renamed(read_weights(path), prefix_map), f"init_from {path}")
    own = model.state_dict()
    with torch.no_grad():
        for name, value in tensors.items():
            own[name].copy_(value.to(own[name].dtype))
    kept = [k for k in own if k not in tensors]
    log.info("started from %s: %d tensors loaded%s", path, len(tensors),
             f", {len(kept)} kept their initialisation ({', '.join(kept[:5])}{', …' if len(kept) > 5 else ''})"
             if kept else "")


def export_weights(checkpoint, out) -> None:
    """A checkpoint's model state as a plain state dict: what init_from reads, written whole (atomic)."""
    from nowrongturns.storage.files import atomic_path, load_tensors

    state = {k: v.detach().clone().contiguous() for k, v in load_tensors(checkpoint, weights_only=False)["model"].items()}
    with atomic_path(out) as tmp:
        if str(out).endswith(".safetensors"):
            from safetensors.torch import save_file

            save_file(state, str(tmp))
        else:
            torch.save(state, tmp)


def verdict(settings: dict) -> dict:
    """The verdict on a run's init_from: its model, built on the CPU, takes the file's weights."""
    from nowrongturns.config.registry import build_task
    from nowrongturns.config.settings import RunSettings
    from nowrongturns.train.precision import weight_dtype

    run = RunSettings.from_dict({**settings, "device": "cpu"})
    try:
        model = build_task(run, torch.device("cpu"), weight_dtype(run.precision)).model
        matched(model, renamed(read_weights(run.init_from), run.init_prefix_map), "")
    except PretrainedMismatch as err:
        return {"ok": False, "key": "init_from", "error": str(err).removeprefix(": ")}
    return {"ok": True}
