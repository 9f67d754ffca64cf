"""How far a replay strayed from the reference trajectory: weights and buffers against a checkpoint,
relative to how far training went, and the error that names every check above the tolerance."""
from __future__ import annotations

import torch


class DriftError(RuntimeError):
    """The replay left the reference trajectory by more than the tolerance."""


def relative_drift(w_replay: torch.Tensor, w_ref: torch.Tensor, w_start: torch.Tensor) -> float:
    """‖w_replay − w_ref‖ / ‖w_ref − w_start‖: how far the replay strayed, relative to how far it went."""
    return ratio(distance(w_replay, w_ref), distance(w_ref, w_start))


def distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.to(a.device).double()).norm())


def squared_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖², in float64."""
    return float(((a.double() - b.to(a.device).double()) ** 2).sum())


def ratio(num: float, den: float) -> float:
    if num == 0.0:
        return 0.0
    return num / den if den > 0 else float("inf")


def buffer_drift(model: torch.nn.Module, start: dict, ref: dict) -> tuple[float, float, str | None]:
    """(relative drift, max |diff|, the buffer that differs most) of the buffers (BatchNorm statistics)
    against the reference checkpoint, like the weights': ‖b_replay − b_ref‖ / ‖b_ref − b_start‖ over
    the floating-point buffers; an integer buffer (a step count) that differs at all is infinite drift."""
    num_sq = den_sq = max_abs = 0.0
    worst, worst_abs = None, -1.0
    for name, b in model.named_buffers():
        if name not in ref:
            continue  # a non-persistent buffer: recomputed, not state
        live, want = b.detach().cpu(), ref[name]
        if not b.is_floating_point():
            if not torch.equal(live, want):
                return float("inf"), float("inf"), name
            continue
        diff = (live.double() - want.double()).abs()
        num_sq += float((diff ** 2).sum())
        den_sq += float(((want.double() - start[name].double()) ** 2).sum())
        top = float(diff.max()) if diff.numel() else 0.0
        max_abs = max(max_abs, top)
        if top > worst_abs:
            worst, worst_abs = name, top
    return ratio(num_sq ** 0.5, den_sq ** 0.5), max_abs, worst if max_abs > 0 else None


def check_drift(checks: dict, tolerance: float, what: str) -> None:
    """DriftError naming every check above the tolerance, the worst first."""
    over = sorted(((v, k) for k, v in checks.items() if v > tolerance), reverse=True)
    if over:
        (worst, name), *others = over
        also = "; also above it: " + ", ".join(f"{k} {v:.3e}" for v, k in others) if others else ""
        raise DriftError(f"{what}: replay drift {worst:.3e} ({name}) exceeds drift_tolerance {tolerance:g}{also}")
