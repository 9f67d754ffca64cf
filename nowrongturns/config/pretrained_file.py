"""The digest of an init_from weights file: what names a fine-tuning run, whatever path the file lies at.

The whole file is hashed (a weights file is not data that is sampled: every byte is a starting weight), once
per (path, size, mtime): the digest is kept under the results folder, so a warm start only stats the file.
Torch-free.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from nowrongturns.config.errors import ConfigError
from nowrongturns.storage.files import write_json


def weights_digest(path: str, cache_dir: str, where: str) -> str:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config key {where}.init_from = {path!r}: no such file (relative paths start at "
                          f"{os.getcwd()})")
    st = file.stat()
    key = json.dumps([str(file.resolve()), st.st_size, st.st_mtime_ns])
    cached = Path(cache_dir) / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"
    if cached.exists():
        return json.loads(cached.read_text())["digest"]
    value = file_digest(file)
    write_json({"file": str(file.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "digest": value}, cached)
    return value


def file_digest(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
