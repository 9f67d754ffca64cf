"""A task's own settings (run setting `task_args`), checked against the dataclass the task declares as `Args`.

The mapping comes from YAML, so the types to check are YAML's: bool, int, float, str, lists and mappings
of them, None, and Literal choices. An int is taken where a float is asked for (YAML writes 1.0 as 1 only
if the user does). Torch-free.
"""
from __future__ import annotations

import dataclasses
import sys
import types
import typing


class TaskArgsError(ValueError):
    """task_args that the task's Args does not take; the message names the key."""


def parse(args_class, given: dict, task_name: str):
    """An instance of args_class from the mapping, or None for a task without Args and no task_args."""
    given = dict(given or {})
    if args_class is None:
        if given:
            raise TaskArgsError(f"task_args.{next(iter(given))}: {task_name} takes no task_args "
                                f"(it declares no Args dataclass)")
        return None
    if not dataclasses.is_dataclass(args_class):
        raise TaskArgsError(f"task_args: {task_name}.Args must be a dataclass, not {args_class!r}")
    module = sys.modules.get(args_class.__module__)
    hints = typing.get_type_hints(args_class, vars(module) if module else None)
    fields = {f.name: f for f in dataclasses.fields(args_class) if f.init}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise TaskArgsError(f"task_args.{unknown[0]}: unknown to {task_name}.Args, which takes "
                            f"{', '.join(sorted(fields)) or 'nothing'}")
    missing = [n for n, f in fields.items() if n not in given
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise TaskArgsError(f"task_args.{missing[0]}: {task_name}.Args requires it (it has no default)")
    values = {}
    for key, value in given.items():
        ok, value = conform(value, hints.get(key, typing.Any))
        if not ok:
            raise TaskArgsError(f"task_args.{key} = {given[key]!r}: {task_name}.Args wants {describe(hints[key])}")
        values[key] = value
    return args_class(**values)


def conform(value, tp) -> tuple[bool, object]:
    """(whether value is of type tp, the value as tp holds it: an int for a float becomes a float, a list a tuple
    where a tuple is asked for)."""
    origin, params = typing.get_origin(tp), typing.get_args(tp)
    if tp is typing.Any:
        return True, value
    if tp is None or tp is type(None):
        return value is None, value
    if origin in (typing.Union, types.UnionType):
        for option in params:
            ok, out = conform(value, option)
            if ok:
                return True, out
        return False, value
    if origin is typing.Literal:
        return any(value == p and type(value) is type(p) for p in params), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False, value
        if origin is tuple and params and params[-1] is not Ellipsis:
            if len(params) != len(value):
                return False, value
            items = [conform(v, p) for v, p in zip(value, params, strict=True)]
        else:
            items = [conform(v, params[0] if params else typing.Any) for v in value]
        ok = all(i[0] for i in items)
        return ok, origin(i[1] for i in items)
    if origin is dict:
        if not isinstance(value, dict):
            return False, value
        key_type, value_type = params or (typing.Any, typing.Any)
        items = [(conform(k, key_type), conform(v, value_type)) for k, v in value.items()]
        return all(k[0] and v[0] for k, v in items), {k[1]: v[1] for k, v in items}
    if isinstance(tp, type):
        return isinstance(value, tp), value
    return True, value  # a type this check does not know: the task's own code reads it


def describe(tp) -> str:
    return getattr(tp, "__name__", None) if isinstance(tp, type) else str(tp).replace("typing.", "")
