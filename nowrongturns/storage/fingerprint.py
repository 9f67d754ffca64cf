"""A data set's fingerprint: what it holds, independent of where it lives. Part of a run's identity.

The manifest lists every file under the data folder (hidden names skipped) by its relative name
and size, with a digest of its first and last HEAD_TAIL bytes. Its hash is the fingerprint: the
same data moved or copied elsewhere has the same one (nothing reruns), different data can never
share a run. Reading each file's ends costs one open per file, so the digests are cached per
folder, keyed by (size, mtime): a warm start only lists the folder and stats its files.

Each results folder records the fingerprint it last saw for each data folder. A folder whose
content changed under the same path is an error at start-up, naming what changed (a run planned
on the old content must not read the new), until the change is accepted.

Torch-free: Snakemake computes it when it starts.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

HEAD_TAIL = 64 * 1024  # bytes digested at each end of a file (all of a smaller one)
CACHE_VERSION = 1


class DataChanged(ValueError):
    """The data folder's content is not what the results folder recorded for it."""


@dataclass(frozen=True)
class Fingerprint:
    digest: str  # 16 hex digits
    files: dict  # relative name -> [size, digest of its ends]


def _scan(root: Path) -> dict[str, os.stat_result]:
    """Every regular file under root (following links), by relative POSIX name; hidden names skipped.
    A folder reached twice through links (a loop) is listed once."""
    found = {}
    stack = [(root, "")]
    seen = {(root.stat().st_dev, root.stat().st_ino)}
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                name = prefix + entry.name
                if entry.is_dir():
                    st = entry.stat()
                    if (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        stack.append((Path(entry.path), name + "/"))
                elif entry.is_file():
                    found[name] = entry.stat()
    return found


def _ends_digest(path: Path, size: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        if size <= 2 * HEAD_TAIL:
            h.update(f.read())
        else:
            h.update(f.read(HEAD_TAIL))
            f.seek(size - HEAD_TAIL)
            h.update(f.read(HEAD_TAIL))
    return h.hexdigest()


def manifest_digest(files: dict) -> str:
    blob = json.dumps(sorted((name, size, ends) for name, (size, ends) in files.items()), separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _cache_file(cache_dir, root: Path) -> Path:
    key = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{key}.json"


def _read_cache(path: Path, root: Path) -> dict:
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if cache.get("version") != CACHE_VERSION or cache.get("root") != str(root):
        return {}
    return cache


def _write_cache(path: Path, cache: dict) -> None:
    from nowrongturns.storage.files import atomic_path

    try:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(cache, separators=(",", ":")))
    except OSError:
        pass  # a read-only results folder: the fingerprint is right, only the next start is slower


def describe_changes(old: dict, new: dict, limit: int = 5) -> str:
    """'2 files changed (train/a.png: 120 → 128 bytes, ...), 1 added (...), 1 removed (...)'."""
    changed = sorted(n for n in old.keys() & new.keys() if old[n] != new[n])
    added, removed = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())

    def listed(names, show):
        more = f", and {len(names) - limit} more" if len(names) > limit else ""
        return ", ".join(show(n) for n in names[:limit]) + more

    def size_change(n):
        a, b = old[n][0], new[n][0]
        return f"{n}: {a} → {b} bytes" if a != b else f"{n}: same size, other content"

    parts = []
    if changed:
        parts.append(f"{len(changed)} changed ({listed(changed, size_change)})")
    if added:
        parts.append(f"{len(added)} added ({listed(added, str)})")
    if removed:
        parts.append(f"{len(removed)} removed ({listed(removed, str)})")
    return "; ".join(parts) or "no file differs"


def fingerprint(root, cache_dir=None) -> Fingerprint:
    """The data folder's fingerprint; with cache_dir, the digests of unchanged files are reused and the
    content recorded there before must still be the content now (else DataChanged)."""
    root = Path(os.path.realpath(root))
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    stats = _scan(root)
    cache_path = _cache_file(cache_dir, root) if cache_dir is not None else None
    cache = _read_cache(cache_path, root) if cache_path else {}
    known = cache.get("files", {})  # name -> [size, mtime_ns, digest of its ends]
    files, stat, fresh = {}, {}, False
    for name, st in stats.items():
        key = [st.st_size, st.st_mtime_ns]
        entry = known.get(name)
        if entry is not None and entry[:2] == key:
            ends = entry[2]
        else:
            ends, fresh = _ends_digest(root / name, st.st_size), True
        files[name] = [st.st_size, ends]
        stat[name] = key + [ends]
    fresh = fresh or len(known) != len(stat)
    result = Fingerprint(manifest_digest(files), files)
    if cache_path is None:
        return result
    recorded = {name: [size, ends] for name, (size, _, ends) in known.items()} if cache else None
    if recorded is not None and cache.get("fingerprint") != result.digest:
        raise DataChanged(
            f"data folder {root} changed since this results folder recorded it (fingerprint "
            f"{cache['fingerprint']} → {result.digest}): {describe_changes(recorded, files)}. A run planned on "
            f"the old content must not read the new. Restore the data; or, if the change is meant, delete "
            f"{cache_path} to accept it: runs on the new data then get folders of their own, and those of the old "
            f"data stay as they are"
        )
    if fresh or recorded is None:
        _write_cache(cache_path, {"version": CACHE_VERSION, "root": str(root), "fingerprint": result.digest,
                                  "files": stat})
    return result
