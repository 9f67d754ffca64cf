"""One process per piece of work: a reference pass or a replay segment holds a lock on it for as
long as the process lives.

Snakemake's own lock guards its folder, not the processes it started: after Snakemake is killed
(SIGKILL), its training job goes on alone, and a rerun after `--unlock` would train the same run
beside it, both writing the same checkpoints. The kernel releases an flock when its process dies,
however it dies, so a lock left by a crash never blocks anything.
"""
from __future__ import annotations

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from nowrongturns.storage import paths


class WorkInProgress(RuntimeError):
    """Another live process is computing the same work."""


@contextmanager
def exclusive(lock_path, what: str):
    """Hold lock_path for the block; if another process holds it, fail naming that process."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").split()
            pid, host, since = (holder + ["?", "?", "?"])[:3]
            raise WorkInProgress(
                f"{what} is being computed by pid {pid} on host {host} (since {since}); wait for it to end, "
                f"or stop it (kill {pid} on {host}) and rerun. Lock: {lock_path}"
            ) from None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {stamp}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def waiting(lock_path):
    """Hold lock_path for the block, waiting while another process holds it (work that any process may do,
    once: the others wait, then find it done)."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing frees the lock


def lock_path(run_dir, name: str) -> Path:
    return Path(paths.lock(str(run_dir), name))
