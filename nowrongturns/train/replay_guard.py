"""The replay guard: a plug-in task whose steps depend on state the checkpoint does not hold is caught at
the start of a pass, by name, instead of as drift at the end of a segment.

The check: from one state (weights, buffers, the global generators), compute the first steps' losses
and gradients, restore that state, compute them again, and compare the bits, and the generators' state
and buffers after both. A task that draws from a generator of its own, keeps a cache or a counter that
changes, or hides state in a module gives other bits the second time. Drift at segment ends stays the
backstop for what shows only later.
"""
from __future__ import annotations

import hashlib
import random

import numpy as np
import torch

STEPS = 2  # steps computed twice: a draw or a counter shows on the first repetition
# Attributes every Task has, which the guard does not list (the model is looked into module by module).
_BASE_ATTRIBUTES = {"settings", "device", "dtype", "seed", "rank", "ranks", "args", "model", "steps_per_epoch"}
_GENERATORS = (torch.Generator, np.random.Generator, np.random.RandomState, random.Random)


class NotReplayable(RuntimeError):
    """A task whose steps are not a function of the state a checkpoint holds."""


def check_replayable(trainer, steps: int = STEPS) -> None:
    """Raise NotReplayable, naming the task and its suspect attributes, when the first steps of the trainer's
    next epoch do not repeat bit for bit from one state. Leaves the trainer in the state it found."""
    saved = _save(trainer)
    before = attributes(trainer.task)
    first = _first_steps(trainer, steps)
    after = attributes(trainer.task)
    _restore(trainer, saved)
    second = _first_steps(trainer, steps)
    _restore(trainer, saved)
    differs = [what for what, a in first.items() if not _same(a, second[what])]
    if differs:
        raise NotReplayable(_message(trainer.task, differs, before, after, steps))


def _save(trainer) -> dict:
    state = {"model": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}, **_rng(trainer)}
    return state


def _rng(trainer) -> dict:
    rng = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if trainer.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def _restore(trainer, saved: dict) -> None:
    trainer.model.load_state_dict(saved["model"])  # copies into the tensors, so the flat views survive
    torch.set_rng_state(saved["torch"])
    np.random.set_state(saved["numpy"])
    random.setstate(saved["python"])
    if "cuda" in saved:
        torch.cuda.set_rng_state_all(saved["cuda"])
    trainer.flat.zero_grad()


def _first_steps(trainer, steps: int) -> dict:
    """What the first steps of the next epoch compute, and the state they leave, as comparable values."""
    epoch = trainer.epoch
    plan = trainer.plan(epoch)
    out = {}
    for i in range(min(steps, trainer.steps_per_epoch)):
        loss = trainer.gradient(plan, i, epoch)
        out[f"the loss of step {i}"] = loss.detach().clone()
        out[f"the gradient of step {i}"] = trainer.flat.grad.clone()
    out["the model's buffers afterwards"] = [b.detach().clone() for b in trainer.model.buffers()]
    out["the global random generators' state afterwards"] = _rng(trainer)
    return out


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(_bits(a), _bits(b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bytes: NaN equals NaN and -0.0 differs from 0.0, as bits do."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


# -- naming the suspects -----------------------------------------------------------------------------------
def attributes(task) -> dict[str, object]:
    """The task's attributes and its modules' plain attributes, by name, as values that show a change."""
    found = {f"task.{k}": v for k, v in vars(task).items() if k not in _BASE_ATTRIBUTES}
    for name, module in task.model.named_modules():
        for k, v in vars(module).items():
            if not k.startswith("_") and k != "training":
                found[f"task.model{'.' + name if name else ''}.{k}"] = v
    return {name: _fingerprint(v) for name, v in found.items()}


def _fingerprint(value, depth: int = 0):
    if isinstance(value, _GENERATORS):
        return ("generator", type(value).__name__, _generator_state(value))
    if isinstance(value, torch.Tensor):
        return ("tensor", value.data_ptr(), value._version, tuple(value.shape))  # _version counts in-place writes
    if isinstance(value, (bool, int, float, str, bytes, type(None))):
        return value
    if isinstance(value, (list, tuple)) and depth < 2:
        return (type(value).__name__, len(value), tuple(_fingerprint(v, depth + 1) for v in value[:64]))
    if isinstance(value, dict) and depth < 2:
        return ("dict", len(value), tuple((str(k), _fingerprint(v, depth + 1)) for k, v in list(value.items())[:64]))
    generator = getattr(value, "generator", None)  # a DataLoader or sampler with a generator of its own
    if isinstance(generator, _GENERATORS):
        return ("holds a generator", type(value).__name__, _generator_state(generator))
    return ("object", type(value).__name__, id(value))


def _generator_state(gen) -> str:
    if isinstance(gen, torch.Generator):
        state = gen.get_state().numpy().tobytes()
    elif isinstance(gen, np.random.Generator):
        state = repr(gen.bit_generator.state).encode()
    else:
        state = repr(gen.get_state() if isinstance(gen, np.random.RandomState) else gen.getstate()).encode()
    return hashlib.sha256(state).hexdigest()[:12]


def _holds_generator(fingerprint) -> bool:
    if isinstance(fingerprint, tuple) and fingerprint[:1] in (("generator",), ("holds a generator",)):
        return True
    return isinstance(fingerprint, tuple) and any(_holds_generator(f) for f in fingerprint if isinstance(f, tuple))


def _message(task, differs: list[str], before: dict, after: dict, steps: int) -> str:
    name = type(task).__name__
    lines = [(f"task {name} is not replayable: its first {steps} steps, computed twice from one state (weights, "
              f"buffers, torch's, numpy's and Python's global generators), gave other bits the second time: "
              f"{', '.join(differs)}.")]
    generators = [k for k, v in before.items() if _holds_generator(v)]
    if generators:
        lines.append(f"Attributes that hold a random generator of their own, which no checkpoint holds: "
                     f"{', '.join(generators)}.")
    changed = [k for k in before if k in after and before[k] != after[k]] + [k for k in after if k not in before]
    if changed:
        lines.append(f"Attributes that changed while computing those steps: {', '.join(changed)}.")
    lines.append("Draw from self.generator(epoch, step) or torch's global generator, and keep no state that "
                 "changes as training goes on (docs/own-model-and-data.md).")
    return "\n".join(lines)
