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

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

from nowrongturns.storage.files import FileIntegrityError, load_tensors, save_tensors
from nowrongturns.storage.run_lock import waiting

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
    with waiting(path.with_name(path.name + ".lock")):
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
