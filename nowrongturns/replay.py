"""The measurement pass over one segment [start, end) of epochs, started from the reference checkpoint.

At the segment's end the replayed weights are compared with the reference
checkpoint there: drift = ‖w_replay − w_ref‖ / ‖w_ref − w_start‖. On CPU it is 0.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from .engine import Trainer, device_name
from .geometry import GeometryRecorder
from .io import write_parquet
from .optim import lr_at
from .reference import checkpoint_path, load_checkpoint, load_weights

log = logging.getLogger("nowrongturns")


class DriftError(RuntimeError):
    """The replay left the reference trajectory by more than the tolerance."""


def relative_drift(w_replay: torch.Tensor, w_ref: torch.Tensor, w_start: torch.Tensor) -> float:
    w_replay, w_ref, w_start = (t.double() for t in (w_replay, w_ref, w_start))
    num = float((w_replay - w_ref).norm())
    den = float((w_ref - w_start).norm())
    if num == 0.0:
        return 0.0
    return num / den if den > 0 else float("inf")


def run_segment(settings: dict, run_id: str, run_dir, segment: int, start: int, end: int,
                targets: dict, out_path, tolerance: float = 0.0) -> dict:
    """Replay epochs [start, end) and record the sums against every target w*.

    targets: {epoch budget: path of that budget's w*}. The run's own w* is the target of
    its full budget; shorter budgets whose trajectories are prefixes of this one ride along,
    each recorded only for the steps of its epochs.
    """
    state = load_checkpoint(checkpoint_path(run_dir, start), run_id)
    if settings["device"] == "auto":
        # Exact replay needs the reference's kind of device, not whatever this node has.
        settings = {**settings, "device": state.get("device", "cpu")}
        if settings["device"] == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"the reference pass of {run_id} ran on cuda, but no CUDA device is visible "
                               "to this replay: run it where a GPU is")
    trainer = Trainer(settings, run_id)
    trainer.load_state(state)
    w_start = trainer.flat.data.detach().clone()
    spe = trainer.steps_per_epoch
    n = (end - start) * spe
    budgets = sorted(b for b in targets if b > start)
    log.info("replay of %s, segment %d (epochs %d-%d, %d steps) on %s, against the w* of budgets %s",
             run_id, segment, start, end - 1, n, device_name(trainer.device), budgets)
    recorder = GeometryRecorder(trainer.flat, [load_weights(targets[b]) for b in budgets], n,
                                settings["weight_decay"], limits=[(min(b, end) - start) * spe for b in budgets],
                                names=budgets)
    trainer.train(end, recorder=recorder)

    ref_state = load_checkpoint(checkpoint_path(run_dir, end), run_id)
    drift = relative_drift(trainer.flat.data, trainer.weights_from_state(ref_state), w_start)
    buffer_diff = max(
        (float((b.detach().cpu().double() - ref_state["model"][name].double()).abs().max())
         for name, b in trainer.model.named_buffers() if b.is_floating_point()),
        default=0.0,
    )
    info = {"run_id": run_id, "segment": segment, "start_epoch": start, "end_epoch": end,
            "drift": drift, "buffer_max_abs_diff": buffer_diff, "device": device_name(trainer.device)}
    log.info("segment %d drift %.3e (buffers max |diff| %.3e), tolerance %g", segment, drift, buffer_diff, tolerance)
    if drift > tolerance:
        raise DriftError(
            f"run {run_id} segment {segment} (epochs {start}-{end - 1}): replay drift {drift:.3e} "
            f"exceeds drift_tolerance {tolerance:g}"
        )
    steps = np.arange(start * spe, end * spe)
    raw = recorder.raw(steps // spe, steps, [lr_at(settings, int(t), spe) for t in steps])
    write_parquet(raw, out_path, metadata={"drift": info, "budgets": budgets})
    return info
