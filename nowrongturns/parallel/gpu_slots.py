"""One GPU per job on a multi-GPU workstation: each job takes a GPU no other job holds.

Snakemake's `--resources gpu=N` caps how many GPU jobs run at once but does not say which GPU
each should use; without this every job would pile onto cuda:0. A job holds an exclusive lock
file per GPU (keyed by the GPU's UUID, so processes that see the GPUs in another order agree)
for as long as the process lives. Under SLURM, or with CUDA_VISIBLE_DEVICES naming one GPU,
a single GPU is visible and nothing is locked.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path

_held: list[int] = []  # open lock-file descriptors, released when the process exits


def lock_dir() -> Path:
    path = Path(os.environ.get("NOWRONGTURNS_GPU_LOCKS", Path(tempfile.gettempdir()) / "nowrongturns-gpu-locks"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def claim(keys: list[str], wait_s: float = 3600.0, poll_s: float = 2.0) -> int:
    """Index of the first key whose lock this process could take; waits while all are held."""
    return claim_many(keys, 1, wait_s, poll_s)[0]


def claim_many(keys: list[str], n: int, wait_s: float = 3600.0, poll_s: float = 2.0) -> list[int]:
    """Indices of n keys whose locks this process took, all at once (a job of n ranks); while fewer are
    free it takes none, so that two such jobs cannot each hold part of what the other waits for."""
    if len(keys) <= 1:
        return list(range(n))
    deadline = time.monotonic() + wait_s
    while True:
        taken = []
        for index, key in enumerate(keys):
            fd = os.open(lock_dir() / f"{key}.lock", os.O_CREAT | os.O_RDWR, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            taken.append((index, fd))
            if len(taken) == n:
                _held.extend(fd for _, fd in taken)
                return [index for index, _ in taken]
        for _, fd in taken:  # closing the descriptor releases its lock
            os.close(fd)
        if time.monotonic() > deadline:
            what = f"all {len(keys)} GPUs stayed held" if n == 1 else f"{n} of the {len(keys)} GPUs were never free at once"
            raise RuntimeError(f"{what} by other jobs for {wait_s:.0f} s (lock files in {lock_dir()}); "
                               f"lower the profile's gpu resource")
        time.sleep(poll_s)


def gpu_keys() -> list[str]:
    import torch

    return [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]
