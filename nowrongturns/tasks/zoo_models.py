"""Models from a model zoo by name: `model: timm:<name>` is timm.create_model(name, num_classes=..., **model_args),
never with hub weights (pretrained weights come from init_from, a local file).

`python -m nowrongturns.tasks.zoo_models CHECK_JSON` is the check the config runs once per distinct
(model, model_args) before any job (config/run_checks.py): it builds the model on the meta device, so even a
large one costs no memory, and prints one JSON verdict: {"ok": true} or {"ok": false, "key": ..., "error": ...}.
"""
from __future__ import annotations

import difflib
import json
import sys

import torch
from torch import nn

CHECK_CLASSES = 10  # any number does to check a name and its arguments


class ZooError(ValueError):
    """A zoo model that cannot be built; key: the run setting at fault (model or model_args)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def build(model: str, num_classes: int, model_args: dict) -> nn.Module:
    zoo, _, name = model.partition(":")
    if zoo != "timm":
        raise ZooError("model", f"no model zoo {zoo!r}; expected timm:<name>")
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


def check(request: dict) -> dict:
    try:
        with torch.device("meta"):
            build(request["model"], CHECK_CLASSES, request["model_args"])
    except ZooError as e:
        return {"ok": False, "key": e.key, "error": str(e)}
    return {"ok": True}


if __name__ == "__main__":
    print(json.dumps(check(json.loads(sys.argv[1]))))
