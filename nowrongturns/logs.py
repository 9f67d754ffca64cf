"""Route the package's progress messages to a rule's log file (and stderr)."""
from __future__ import annotations

import logging
import os
import platform
import sys
from contextlib import contextmanager
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(message)s"


@contextmanager
def logged(path=None, echo: bool = True):
    """Log to `path` (if given) and, with echo, stderr; a failure is logged with its traceback, then re-raised."""
    logger = logging.getLogger("nowrongturns")
    logger.setLevel(logging.INFO)
    handlers = [logging.StreamHandler(sys.stderr)] if echo else []
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w", encoding="utf-8"))
    for h in handlers:
        h.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(h)
    logger.info("%s", where())
    try:
        yield logger
    except Exception as err:
        logger.error("%s: %s", type(err).__name__, err, exc_info=not isinstance(err, (RuntimeError, ValueError)))
        raise
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()


def where() -> str:
    """Where this job runs: host, CPU, SLURM job, container image and interpreter (the first line of every log)."""
    parts = [f"host={platform.node()}", f"cpu={cpu()!r}", f"python={sys.executable}"]
    if os.environ.get("SLURM_JOB_ID"):
        parts.append(f"slurm_job_id={os.environ['SLURM_JOB_ID']} slurm_node={os.environ.get('SLURMD_NODENAME', '?')}")
    container = os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER")
    if container:
        parts.append(f"container={container}")
    return "job " + " ".join(parts)


def cpu() -> str:
    """The CPU model, its architecture, its core count and the target Numba's LLVM compiles for: the last
    bits of the CPU sums follow that target's vector width (fused_cpu.py), so a log says which it was."""
    model = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:  # not Linux
        pass
    from llvmlite import binding  # Numba's LLVM (a dependency); asking its host name starts no JIT

    target = os.environ.get("NUMBA_CPU_NAME") or binding.get_host_cpu_name()
    described = [model] if model else []  # arm64 Linux names no model; its LLVM target does
    return ", ".join([*described, platform.machine(), f"{os.cpu_count()} cores", f"llvm target {target}"])
