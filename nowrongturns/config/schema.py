"""The config's JSON schema, completed from the code, and checks against it that name the key at fault."""
from __future__ import annotations

import copy
import math
from functools import cache
from importlib import resources

import jsonschema
import yaml

from nowrongturns.config import figure_kinds, registry
from nowrongturns.config.errors import ConfigError
from nowrongturns.datasets.catalog import DOWNLOADS


@cache
def schema() -> dict:
    """The config schema, with the lists it shares with the code filled in from the code: data sets,
    models and zoo model names (registry), the data sets that download (datasets.catalog), figure kinds and
    the default figures (figure_kinds), the keys an override may set (the run's settings)."""
    text = resources.files("nowrongturns").joinpath("config/schemas/config.schema.yaml").read_text()
    full = yaml.safe_load(text)
    defs = full["$defs"]
    run = defs["run"]["properties"]
    run["dataset"]["enum"] = list(registry.DATASETS)
    zoo_models = [{"pattern": f"^{name}:{zoo.name}$", "description": f"{name}:<name>"}
                  for name, zoo in registry.ZOOS.items()]
    run["model"]["anyOf"] = [{"enum": [m for m in registry.MODELS if m not in registry.ZOOS]}, *zoo_models]
    defs["data"]["properties"]["mirrors"]["propertyNames"] = {"enum": list(DOWNLOADS)}
    figures = defs["study"]["properties"]["figures"]
    figures["items"]["enum"] = list(figure_kinds.KINDS)
    figures["default"] = list(figure_kinds.DEFAULT_FIGURES)
    # A list value in an override is a grid axis, so settings whose value may be a list (forks, image_mean) are
    # set in a study's base instead.
    defs["override"]["propertyNames"] = {"enum": [k for k, v in run.items() if "array" not in _types(v)]}
    return full


def _types(prop: dict) -> list:
    t = prop.get("type", [])
    return t if isinstance(t, list) else [t]


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


@cache
def _validator(section: str | None):
    """The schema's validator, or that of one of its $defs (a 1,000-run study validates 1,000 runs)."""
    full = schema()
    part = full if section is None else {"$defs": full["$defs"], **full["$defs"][section]}
    return jsonschema.Draft202012Validator(part)


def validate(instance, section: str | None, where: str) -> None:
    validator = _validator(section)
    if validator.is_valid(instance):
        return
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    key = ".".join(x for x in [where, _where(error.absolute_path)] if x and x != "<top level>")
    if error.validator == "additionalProperties":
        message = f"unknown key in {key or 'config'}: {error.message}"
    elif error.validator == "anyOf":  # the model: a MODELS row or <zoo>:<name>
        options = [", ".join(sub["enum"]) if "enum" in sub else sub["description"] for sub in error.validator_value]
        message = f"config key {key} = {error.instance!r}: expected one of {', or '.join(options)}"
    elif "propertyNames" in error.schema_path:
        message = f"unknown key {error.instance!r} in {key}: {error.message}"
    else:
        message = f"config key {key or '<top level>'} = {error.instance!r}: {error.message}"
    raise ConfigError(message)


def run_defaults() -> dict:
    props = schema()["$defs"]["run"]["properties"]
    return {k: copy.deepcopy(v["default"]) for k, v in props.items()}  # a copy: task_args' {} is shared otherwise


def section_defaults(name: str, given: dict | None) -> dict:
    props = schema()["$defs"][name]["properties"]
    out = {k: copy.deepcopy(v["default"]) for k, v in props.items()}
    out.update(coerce_types(given or {}, name, name))
    for key, spec in props.items():  # a nested mapping (measure.sharpness) gets the defaults of its own keys
        if "properties" in spec:
            out[key] = {**{k: copy.deepcopy(v["default"]) for k, v in spec["properties"].items()}, **out[key]}
    return out


@cache
def _integer_keys(section: str) -> frozenset:
    props = schema()["$defs"][section]["properties"]
    return frozenset(k for k, v in props.items() if "integer" in (v.get("type") or []) or v.get("type") == "integer")


def coerce_types(settings: dict, section: str, where: str) -> dict:
    """Values as their schema type, before anything hashes, names or seeds with them.

    JSON Schema counts 1.0 as an integer, but `seed: 1.0` must not be another trajectory than
    `seed: 1` (seeding hashes the value's repr) nor crash `range()`: an integral float given for
    an integer key becomes that integer (a fractional one is refused by the schema). NaN and
    infinities pass the schema's bounds (every comparison with NaN is false): refused here.
    """
    integers = _integer_keys(section)
    out = {}
    for key, value in settings.items():
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ConfigError(f"config key {where}.{key} = {value!r}: not a finite number")
            if key in integers and value.is_integer():
                value = int(value)
        out[key] = value
    return out
