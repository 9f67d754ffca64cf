"""Every file the pipeline writes: under a temporary name renamed when complete, with a checksum
of its content recorded at write time and verified at read time, and every error naming the file.

A killed job then leaves either the old file or the new one, never half of one; a file damaged
later (a flipped bit, a truncated copy) is refused instead of read as other numbers.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("nowrongturns")

DIGEST_KEY = "blake2b"  # the checksum's key in a tensor file's dict and in a table's metadata


class FileIntegrityError(RuntimeError):
    """A file that cannot be read as what it should be: truncated, corrupt or altered."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_mode() -> int:
    """What open() would give a new file: like any other tool, outputs follow the umask
    (mkstemp's 0600 would hide every result from the rest of a cluster group)."""
    return 0o666 & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to `path`; rename it onto `path` if the block succeeds.
    An OSError (no space left, permissions) names `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise OSError(err.errno, f"cannot write {path}: {err.strerror or err}") from err
    try:
        yield Path(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except OSError as err:
        raise OSError(err.errno, f"cannot write {path}: {err.strerror or err}") from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(text: str, path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(obj, path) -> None:
    write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


# -- tensor files (w0, w*, checkpoints) -------------------------------------------------------
def content_digest(obj) -> str:
    """A checksum of a nested structure of dicts, lists, tensors, arrays and plain values.

    Computed from the content, not the file's bytes, so it travels inside the file it checks."""
    import numpy as np
    import torch

    h = hashlib.blake2b(digest_size=16)

    def feed(x):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(x, np.ndarray):
            h.update(f"A{x.dtype}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif isinstance(x, dict):
            h.update(b"{")
            for k, v in x.items():
                feed(k)
                feed(v)
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[" if isinstance(x, list) else b"(")
            for v in x:
                feed(v)
            h.update(b"]")
        else:
            h.update(f"{type(x).__name__}:{x!r};".encode())

    feed(obj)
    return h.hexdigest()


def save_tensors(obj: dict, path) -> None:
    """torch.save of a dict, with its content checksum. Serialized in memory first, so a full disk
    is an OSError naming the file (torch's own writer reports it as an 'enforce fail')."""
    import torch

    buffer = io.BytesIO()
    torch.save({**obj, DIGEST_KEY: content_digest(obj)}, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_tensors(path, weights_only: bool = True) -> dict:
    """A file written by save_tensors, its checksum verified; any problem names the file."""
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"missing file {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as err:  # noqa: BLE001  truncated zip, bad pickle, I/O error: all mean this file is unusable
        raise _unreadable(path, err) from None
    if not isinstance(obj, dict):
        raise FileIntegrityError(f"{path} holds a {type(obj).__name__}, not the dict this pipeline writes")
    recorded = obj.pop(DIGEST_KEY, None)
    _verify(path, recorded, lambda: content_digest(obj))
    return obj


def _unreadable(path, err: Exception) -> FileIntegrityError:
    return FileIntegrityError(f"{path} cannot be read, it is truncated or corrupt ({type(err).__name__}: {err}); "
                              f"delete it and rerun to recompute it")


def _verify(path, recorded: str | None, digest) -> None:
    """The checksum recorded at write time against the content's now (digest: computes it)."""
    if recorded is None:
        log.warning("%s carries no checksum (written before checksums were recorded): not verified", path)
    elif digest() != recorded:
        raise FileIntegrityError(f"{path} is corrupt: its content no longer matches the checksum recorded when it "
                                 f"was written; delete it and rerun to recompute it")


# -- tables -----------------------------------------------------------------------------------
def table_digest(df, metadata: dict) -> str:
    import pandas as pd

    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([list(map(str, df.columns)), list(map(str, df.dtypes)), metadata], sort_keys=True,
                        default=str).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def write_parquet(df, path, metadata: dict | None = None) -> None:
    """A table with `metadata` (JSON values) and the checksum of both in its schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = dict(metadata or {})
    table = pa.Table.from_pandas(df, preserve_index=False)
    merged = dict(table.schema.metadata or {})
    merged.update({k.encode(): json.dumps(v).encode() for k, v in metadata.items()})
    merged[DIGEST_KEY.encode()] = table_digest(df, metadata).encode()
    table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_table(path):
    """(DataFrame, metadata) of a table written by write_parquet, its checksum verified."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"missing table {path}")
    try:
        table = pq.read_table(path)
        raw = table.schema.metadata or {}
        metadata = {k.decode(): json.loads(v) for k, v in raw.items()
                    if not k.startswith(b"pandas") and k != DIGEST_KEY.encode()}
        df = table.to_pandas()
    except Exception as err:  # noqa: BLE001  as above
        raise _unreadable(path, err) from None
    recorded = raw.get(DIGEST_KEY.encode())
    _verify(path, recorded and recorded.decode(), lambda: table_digest(df, metadata))
    return df, metadata
