"""Data decoded once per content and kept: <results>/.cache/data/<name>-<digest>.pt, the digest naming the
data folder's fingerprint and all that shapes the decoding (an image size, a tokenizer, a block size).

Decoding a folder of images or tokenizing a corpus can take minutes, and every job of every run on those
files (the reference, each replay segment, the full-batch passes) needs the result. The first job keeps
it; the others read the same tensors, bit for bit. Jobs that start together (the references of a study's
seeds) wait on a lock beside the file while the first decodes; the kernel frees it if that job dies. The
file is written by save_tensors: checksummed, under a temporary name renamed when complete. A damaged file
is decoded anew and replaced.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from nowrongturns.storage.files import FileIntegrityError, load_tensors, save_tensors

log = logging.getLogger(__name__)


def decoded_once(cache_dir: str | None, name: str, key: dict, decode: Callable[[], dict]) -> dict:
    """decode()'s dict (tensors, numbers, strings, lists), read from the cache where it was kept, else decoded
    and kept. key must hold the data's "fingerprint"; without one (a fingerprint 'unread', a task built
    outside the pipeline) or without a cache folder, this is decode()."""
    if cache_dir is None or key.get("fingerprint") in (None, "unread"):
        return decode()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"{name}-{digest}.pt"
    kept = _read(path)
    if kept is not None:
        return kept
    with _waiting_for(path.with_name(path.name + ".lock")):
        kept = _read(path)  # kept by the job we waited for
        if kept is not None:
            return kept
        decoded = decode()
        save_tensors(decoded, path)
    log.info("kept the decoded %s data in %s", name, path)
    return decoded


def _read(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return load_tensors(path)
    except FileIntegrityError as err:
        log.warning("%s; decoding the data again", err)
        return None


@contextmanager
def _waiting_for(lock: Path):
    """Hold lock for the block, waiting while another process holds it."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing frees the lock
