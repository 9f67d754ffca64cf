"""A run's checkpoints and flat weight files: where they lie, writing and reading them, which exist,
where a pass resumes. Every pass reads them; the reference pass writes them."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from nowrongturns.storage import paths
from nowrongturns.storage.files import load_tensors, save_tensors

if TYPE_CHECKING:
    from nowrongturns.config.settings import RunSettings
    from nowrongturns.train.engine import Trainer


def checkpoint_epochs(epochs: int, every: int) -> list[int]:
    """Epochs at which a checkpoint is kept: 0 (w0), every `every` epochs, and the last (w*)."""
    return sorted({0, epochs, *range(every, epochs, every)})


def checkpoint_dir(run_dir) -> Path:
    return Path(paths.checkpoint_dir(str(run_dir)))


def checkpoint_path(run_dir, epoch: int) -> Path:
    return Path(paths.checkpoint(str(run_dir), epoch))


def save_checkpoint(trainer: Trainer, path: Path) -> None:
    save_tensors(trainer.state(), path)


def load_checkpoint(path: Path, run_id: str) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"missing checkpoint {path}: rerun the reference pass (snakemake -R reference)")
    state = load_tensors(path, weights_only=False)  # RNG states hold numpy arrays
    if state["run_id"] != run_id or state["torch_version"] != torch.__version__:
        raise RuntimeError(
            f"checkpoint {path} belongs to run {state['run_id']} (torch {state['torch_version']}), "
            f"not to run {run_id} (torch {torch.__version__}); delete it to recompute"
        )
    return state


def existing_checkpoints(run_dir) -> dict[int, Path]:
    found = {}
    for path in checkpoint_dir(run_dir).glob("epoch_*.pt"):
        found[int(path.stem.split("_")[1])] = path
    return found


def checkpoint_at_or_before(run_dir, run_id: str, epoch: int) -> int:
    """The latest epoch at or before `epoch` with a reference checkpoint of the run."""
    found = [e for e in existing_checkpoints(run_dir) if e <= epoch]
    if not found:
        raise FileNotFoundError(f"no checkpoint of run {run_id} at or before epoch {epoch} in "
                                f"{checkpoint_dir(run_dir)}: rerun its reference pass")
    return max(found)


def resume_point(needed: list[int], existing: dict[int, Path]) -> int | None:
    """Latest checkpoint at or before the first missing one; None means start from w0."""
    missing = [e for e in needed if e not in existing]
    if not missing:
        return needed[-1]
    candidates = [e for e in existing if e <= missing[0]]
    return max(candidates) if candidates else None


def save_weights(run_id: str, epoch: int, w: torch.Tensor, path) -> None:
    """A flat weight vector (w0 or w*), small enough for the replay to load on its own."""
    save_tensors({"run_id": run_id, "epoch": epoch, "w": w.detach().cpu().clone()}, path)


def load_weights(path) -> torch.Tensor:
    return load_tensors(path)["w"]


def state_weights(state: dict) -> torch.Tensor:
    """The flat w of a checkpoint: its trainable parameters in the order it records."""
    return torch.cat([state["model"][n].reshape(-1) for n in state["param_names"]])


def on_reference_device(run: RunSettings, state: dict, run_id: str) -> RunSettings:
    """Settings whose device is the one the reference pass used, where it was `auto`: exact replay needs
    the reference's kind of device, not whatever this node has."""
    if run.device != "auto":
        return run
    run = replace(run, device=state.get("device", "cpu"))
    if run.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"the reference pass of {run_id} ran on cuda, but no CUDA device is visible "
                           "to this replay: run it where a GPU is")
    return run
