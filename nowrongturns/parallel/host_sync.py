"""Where the host waits for the GPU: torch's sync debug mode, counted and located.

A step that reads a device value on the host (.item(), a bool of a device tensor, a copy from
pageable memory) makes the host wait until the GPU has finished everything queued before it, so
the host can no longer queue the next kernels while the GPU runs. The training steps must have
none (tests/test_host_sync.py); bench/gpu.py reports the count per step.
"""
from __future__ import annotations

import collections
import contextlib
import threading
import traceback
import warnings
from pathlib import Path

import torch


@contextlib.contextmanager
def host_syncs():
    """Yields a Counter that, after the block, maps each synchronizing call site (file:line of the
    innermost frame of this project, then its callers) to its count. Only the calling thread's
    syncs count: a DataLoader's pinning thread may wait without stalling the training loop."""
    sites: collections.Counter = collections.Counter()
    main = threading.current_thread()

    def record(message, category, filename, lineno, file=None, line=None):
        if "synchroniz" not in str(message) or threading.current_thread() is not main:
            return
        frames = [f for f in traceback.extract_stack()[:-1] if "site-packages" not in f.filename
                  or "nowrongturns" in f.filename]
        sites[" <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames[-3:][::-1])] += 1

    if not torch.cuda.is_available():  # no device to wait for: nothing to count
        yield sites
        return
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield sites
        finally:
            torch.cuda.set_sync_debug_mode("default")
