"""The measurement pass over one segment [start, end) of epochs, started from the reference checkpoint.

At the segment's end the replayed weights and buffers are compared with the reference checkpoint
there, and where a budget's epochs end, with that budget's w* (see run_segment). On CPU, and on a
GPU with deterministic kernels, every drift is exactly 0.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from nowrongturns.config.settings import RunSettings
from nowrongturns.geometry.blocks import parameter_blocks
from nowrongturns.geometry.recorder import GeometryRecorder
from nowrongturns.parallel import distributed, launch
from nowrongturns.parallel.device import device_name
from nowrongturns.storage.files import write_parquet
from nowrongturns.storage.run_lock import exclusive, lock_path
from nowrongturns.train.checkpoints import checkpoint_path, load_checkpoint, load_weights, on_reference_device
from nowrongturns.train.drift import buffer_drift, check_drift, ratio, squared_distance
from nowrongturns.train.engine import Trainer
from nowrongturns.train.optim import lr_at

log = logging.getLogger("nowrongturns")


def run_segment(settings: RunSettings | dict, run_id: str, run_dir, segment: int, start: int, end: int,
                targets: dict, out_path, tolerance: float = 0.0, forks: dict | None = None,
                mpi: str | None = None, per_block: bool = False) -> dict | None:
    """run_replay, one process at a time per run and segment (run_lock); with world_size > 1 that process
    starts the ranks (launch.py) and returns None."""
    run = RunSettings.of(settings)
    with exclusive(lock_path(run_dir, f"segment_{segment}"), f"run {run_id} segment {segment}"):
        if not launch.needs_ranks(run):
            return run_replay(run, run_id, run_dir, segment, start, end, targets, out_path, tolerance, forks, per_block)
        # The ranks' backend (NCCL or gloo) follows the device the reference pass used.
        state = load_checkpoint(checkpoint_path(run_dir, start), run_id)
        run = on_reference_device(run, state, run_id)
        del state
        args = {"settings": run.to_dict(), "run_id": run_id, "run_dir": str(run_dir),
                "segment": segment, "start": start, "end": end, "targets": {b: str(p) for b, p in targets.items()},
                "out_path": str(out_path), "tolerance": tolerance, "forks": forks}
        launch.ranks("segment", args, run, run_dir, f"measure_segment_{segment}", mpi)
        return None


def run_replay(settings: RunSettings | dict, run_id: str, run_dir, segment: int, start: int, end: int,
               targets: dict, out_path, tolerance: float = 0.0, forks: dict | None = None,
               per_block: bool = False) -> dict:
    """Replay epochs [start, end) and record the sums against every target w*.

    targets: {epoch budget: path of that budget's w*}. The run's own w* is the target of
    its full budget; shorter budgets whose trajectories are prefixes of this one ride along,
    each recorded only for the steps of its epochs.
    forks: {name: {"path": its w*′, "budget": the budget it ends at}}: endpoints of forks of this run (or
    of a prefix), more targets recorded for the steps of their budget's epochs (columns @name).

    Checked against `tolerance` before anything is written, each as a relative error:
      drift    ‖w_replay − w_ref‖ / ‖w_ref − w_start‖ at the segment's end, and at each budget's
               last epoch against that budget's w* itself (w_star.pt, not only the checkpoint);
      d_drift  the relative error of d = w − w*: ‖w_replay − w_ref‖ / ‖w_ref − w*‖ at the segment's
               end for budgets beyond it; for a budget that ends in the segment, its error at w*
               over ‖d‖ at its last step. Late in training ‖d‖ is small, so this is the one that
               bounds the error of γ;
      buffers  the same relative drift of the buffers (BatchNorm statistics); step counts exactly.
    """
    state = load_checkpoint(checkpoint_path(run_dir, start), run_id)
    run = on_reference_device(RunSettings.of(settings), state, run_id)  # a rank's spec gives a dict
    budgets = sorted(b for b in targets if b > start)
    forks = {name: f for name, f in (forks or {}).items() if f["budget"] > start}
    trainer = Trainer(run, run_id)
    trainer.load_state(state)
    distributed.check_same(trainer.flat.data, f"run {run_id}: the weights of the checkpoint of epoch {start}")
    # Each rank measures its contiguous slice of w, G and every w* (one rank: all of them).
    part = distributed.shard(trainer.flat.numel)
    mine = trainer.flat.shard(part)
    w_stars = {b: load_weights(targets[b])[part].clone() for b in budgets}
    w_start = mine.data.detach().clone()
    log.info("replay of %s, segment %d (epochs %d-%d, %d steps) on %s, against the w* of budgets %s%s",
             run_id, segment, start, end - 1, (end - start) * trainer.steps_per_epoch, device_name(trainer.device),
             budgets, f"; this rank measures weights {part.start}..{part.stop - 1}" if trainer.group.active else "")
    if per_block and trainer.group.active:
        raise ValueError(f"run {run_id}: per-block sums are measured in one process, not {trainer.group.world_size}")
    blocks = parameter_blocks(trainer.model) if per_block else None
    recorder = _recorder(trainer, mine, part, w_stars, forks, start, end, run.weight_decay, blocks)
    squares = _train(trainer, recorder, mine, w_stars, end)
    ref_state = load_checkpoint(checkpoint_path(run_dir, end), run_id)
    dist = _distances(trainer, mine.data, trainer.weights_from_state(ref_state)[part], w_start, w_stars, squares)
    raw = _raw_table(trainer, recorder, start, end)
    if not trainer.group.is_main:
        return {}  # rank 0 checks and writes; its buffers are the run's (distributed.py)
    info = _checked(trainer, (state, ref_state), dist, raw, budgets, tolerance, run_id, segment, start, end)
    write_parquet(raw, out_path, metadata={"drift": info, "budgets": budgets, "forks": list(forks)})
    return info


def _train(trainer: Trainer, recorder: GeometryRecorder, mine, w_stars: dict, end: int) -> dict:
    """Replay up to epoch `end`; returns ‖w_replay − w*‖² (this rank's share) wherever the replay has run a
    budget's epochs, to be summed over the ranks once, at the end."""
    squares = {}

    def check_w_star(t: Trainer) -> None:
        if t.epoch in w_stars:
            squares[f"at_w_star {t.epoch}"] = squared_distance(mine.data, w_stars[t.epoch])

    trainer.train(end, recorder=recorder, on_epoch_end=check_w_star)
    return squares


def _raw_table(trainer: Trainer, recorder: GeometryRecorder, start: int, end: int):
    """The recorded sums of every step of the segment, with its epoch, step and the lr in force."""
    steps_per_epoch = trainer.steps_per_epoch
    steps = np.arange(start * steps_per_epoch, end * steps_per_epoch)
    lrs = [lr_at(trainer.settings, int(t), steps_per_epoch) for t in steps]
    return recorder.raw(steps // steps_per_epoch, steps, lrs)


def _checked(trainer: Trainer, states: tuple[dict, dict], dist: dict, raw, budgets: list, tolerance: float,
             run_id: str, segment: int, start: int, end: int) -> dict:
    """The segment's drift record, once every drift is within the tolerance (else DriftError, naming each above it).
    states: the checkpoints at the segment's start and end."""
    checks = _weight_drifts(dist, raw, budgets, start, end, trainer.steps_per_epoch)
    b_drift, b_max_abs, b_worst = buffer_drift(trainer.model, states[0]["model"], states[1]["model"])
    info = {"run_id": run_id, "segment": segment, "start_epoch": start, "end_epoch": end,
            "drift": max(checks["weights"].values()), "d_drift": max(checks["d"].values(), default=0.0),
            "buffer_drift": b_drift, "buffer_max_abs_diff": b_max_abs,
            "device": device_name(trainer.device)}
    log.info("segment %d drift %.3e, d drift %.3e, buffer drift %.3e (max |diff| %.3e), tolerance %g",
             segment, info["drift"], info["d_drift"], b_drift, b_max_abs, tolerance)
    named = {**{f"weights vs the {k}": v for k, v in checks["weights"].items()}, **checks["d"],
             f"buffers vs the checkpoint of epoch {end}" + (f" (most: {b_worst})" if b_worst else ""): b_drift}
    check_drift(named, tolerance, f"run {run_id} segment {segment} (epochs {start}-{end - 1})")
    return info


def _recorder(trainer: Trainer, mine, part: slice, w_stars: dict, forks: dict, start: int, end: int,
              weight_decay: float, blocks=None) -> GeometryRecorder:
    """The per-step sums against every budget's w* and every fork's w*′ (this rank's slice of each), each target
    recorded for the steps of its budget's epochs only."""
    names, ends = [*w_stars, *forks], [*w_stars, *(f["budget"] for f in forks.values())]
    fork_stars = [load_weights(f["path"])[part].clone() for f in forks.values()]
    steps_per_epoch = trainer.steps_per_epoch
    return GeometryRecorder(mine, [*w_stars.values(), *fork_stars], (end - start) * steps_per_epoch,
                            weight_decay, limits=[(min(b, end) - start) * steps_per_epoch for b in ends],
                            names=names, combine=lambda a: distributed.sum_over_ranks(a, trainer.device),
                            blocks=blocks)


def _distances(trainer: Trainer, w: torch.Tensor, w_ref: torch.Tensor, w_start: torch.Tensor, w_stars: dict,
               squares: dict) -> dict:
    """The distances the drift checks divide, summed over the ranks: replay to reference ("error"), reference to
    start, each w* to start and to the reference, and (in squares) the replay to each w* it reached."""
    squares = {**squares, "error": squared_distance(w, w_ref), "ref_start": squared_distance(w_ref, w_start)}
    for b, w_star in w_stars.items():
        squares[f"star_start {b}"] = squared_distance(w_star, w_start)
        squares[f"ref_star {b}"] = squared_distance(w_ref, w_star)
    totals = distributed.sum_over_ranks({k: np.array([v]) for k, v in squares.items()}, trainer.device)
    return {k: float(np.sqrt(v[0])) for k, v in totals.items()}


def _weight_drifts(dist: dict, raw, budgets: list, start: int, end: int, steps_per_epoch: int) -> dict:
    """{"weights": drift of w against the end checkpoint and each reached w*, "d": the relative error of
    d = w − w* for every budget}, named as the DriftError names them."""
    error = dist["error"]
    at_w_star = {b: dist[f"at_w_star {b}"] for b in budgets if f"at_w_star {b}" in dist}
    weights = {f"checkpoint of epoch {end}": ratio(error, dist["ref_start"])}
    weights.update({f"w* of budget {b}": ratio(e, dist[f"star_start {b}"]) for b, e in at_w_star.items()})
    d = {}
    for b in budgets:
        if b > end:
            d[f"d against the w* of budget {b} at epoch {end}"] = ratio(error, dist[f"ref_star {b}"])
        else:
            d_last = float(np.sqrt(raw[f"d_sq@{b}"].iloc[(b - start) * steps_per_epoch - 1]))
            d[f"d against the w* of budget {b} at its last step"] = ratio(at_w_star[b], d_last)
    return {"weights": weights, "d": d}
