"""Data decoded once per content and kept: <results>/.cache/data/<name>-<digest>.pt, the digest naming the
data folder's fingerprint and all that shapes the decoding (an image size, a tokenizer, a block size).

Decoding a folder of images or tokenizing a corpus can take minutes, and every job of every run on those
files (the reference, each replay segment, the full-batch passes) needs the result. The first job keeps
it; the others read the same tensors, bit for bit. The file is written by save_tensors: checksummed, under
a temporary name renamed when complete, so jobs that decode at once each leave a whole file. A damaged file
is decoded anew and replaced.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
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
    if path.exists():
        try:
            return load_tensors(path)
        except FileIntegrityError as err:
            log.warning("%s; decoding the data again", err)
    decoded = decode()
    save_tensors(decoded, path)
    log.info("kept the decoded %s data in %s", name, path)
    return decoded
