"""Peak memory of a measurement pass against plain training (the reference pass's own loop), each in a
fresh process: the Transformer language model of step_overhead.py (8.6M weights), one epoch.

The recorder holds w* and one copy of w_t (O(1) parameter-sized buffers) and a few float64 numbers
per step; on CPU, Numba's compiler adds a fixed amount (measured on its own in a third process).
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = "Transformer LM (emsize 128, 2 layers, bptt 35, batch 20)"


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: on Linux a child's
    ru_maxrss starts at its parent's resident size when it forked, so it would report the bench's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_mb(variant: str) -> dict:
    """Train one epoch in this process (variant plain or measure) and report the peak RSS."""
    import step_overhead

    from nowrongturns.geometry.recorder import GeometryRecorder
    from nowrongturns.train.engine import Trainer

    overrides, write_data, *_ = step_overhead.MODELS[MODEL]
    with tempfile.TemporaryDirectory() as tmp:
        s = step_overhead._settings(overrides, 1, write_data(Path(tmp) / "data"))
        trainer = Trainer(s, "bench")
        recorder = None
        if variant == "measure":
            w_star = trainer.flat.data.detach().clone()
            recorder = GeometryRecorder(trainer.flat, w_star, trainer.steps_per_epoch, s["weight_decay"])
        trainer.run_epoch(recorder)
        if recorder is not None:
            recorder.sums()
    return {"peak_mb": _peak_rss_mb(),
            "params_mb": trainer.flat.numel * trainer.flat.data.element_size() / 2**20}


def _compiler_mb() -> dict:
    """What importing Numba and compiling the CPU kernel adds to a process that has torch (a fixed cost)."""
    import numpy as np
    import torch  # noqa: F401

    before = _peak_rss_mb()
    from nowrongturns.geometry.fused_cpu import step_kernel

    x = np.zeros(8, np.float32)
    step_kernel(True, True, True, True)(x, x, x.copy(), x, 0.0, 1, 0, np.zeros((2, 3)), np.zeros((2, 1, 4)))
    return {"peak_mb": _peak_rss_mb() - before}


def run() -> dict:
    out = {}
    for variant in ("plain", "measure", "compiler"):
        proc = subprocess.run([sys.executable, __file__, variant], capture_output=True, text=True, cwd=HERE)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        out[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"model": MODEL, "plain_mb": out["plain"]["peak_mb"], "measure_mb": out["measure"]["peak_mb"],
            "params_mb": out["plain"]["params_mb"], "ratio": out["measure"]["peak_mb"] / out["plain"]["peak_mb"],
            "compiler_mb": out["compiler"]["peak_mb"],
            "extra_in_params": (out["measure"]["peak_mb"] - out["plain"]["peak_mb"] - out["compiler"]["peak_mb"])
            / out["plain"]["params_mb"]}


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.path.insert(0, str(HERE))
        print(json.dumps(_compiler_mb() if sys.argv[1] == "compiler" else _peak_mb(sys.argv[1])))
    else:
        print(run())
