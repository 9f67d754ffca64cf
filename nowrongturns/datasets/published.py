"""Is a folder the published data set? Its members' MD5s against those the catalog lists, or, for a member
whose checksum is not published, against the record a verified download left in the folder (RECORD).

A full MD5 reads every byte (178 MB for CIFAR-10), so each file's digest is kept per folder, keyed by its
(size, mtime): Snakemake reads the config at every start and in every job. Torch-free.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from nowrongturns.datasets.catalog import DOWNLOADS

RECORD = ".nowrongturns-data.json"  # what a download verified: {"members": {name: md5}, "source": url, ...}
MD5_CACHE_VERSION = 1


@dataclass(frozen=True)
class Verdict:
    state: str  # absent (no folder, or an empty one), published, other, or unverifiable
    reason: str = ""  # why it is not the published data
    prefix: str = ""  # where the members lie in the folder: "" or the archive's inner folder + "/"
    md5s: dict = field(default_factory=dict)  # member -> its MD5, as found


def is_empty(folder: Path) -> bool:
    """No folder, or one that holds nothing but the record a fetch leaves (its files deleted since). Anything else
    in it is someone's data."""
    if not folder.is_dir():
        return True
    with os.scandir(folder) as entries:
        return all(e.name == RECORD and e.is_file() for e in entries)


def read_record(folder: Path) -> dict:
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and isinstance(record.get("members"), dict) else {}


def file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _cached_md5s(folder: Path, names: list[str], cache_dir) -> dict[str, str]:
    from nowrongturns.storage.files import atomic_path

    cache_path = None
    known = {}
    if cache_dir is not None:
        key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
        cache_path = Path(cache_dir) / f"{key}.md5.json"
        try:
            cache = json.loads(cache_path.read_text())
            if cache.get("version") == MD5_CACHE_VERSION:
                known = cache.get("files", {})
        except (OSError, ValueError):
            pass
    out, fresh = {}, False
    for name in names:
        st = (folder / name).stat()
        entry = known.get(name)
        if entry is not None and entry[:2] == [st.st_size, st.st_mtime_ns]:
            out[name] = entry[2]
        else:
            out[name], fresh = file_md5(folder / name), True
            known[name] = [st.st_size, st.st_mtime_ns, out[name]]
    if cache_path is not None and fresh:
        try:
            with atomic_path(cache_path) as tmp:
                tmp.write_text(json.dumps({"version": MD5_CACHE_VERSION, "files": known}, separators=(",", ":")))
        except OSError:
            pass  # a read-only results folder: the verdict is right, only the next start reads the files again
    return out


def _prefix(dataset: str, folder: Path) -> tuple[str, list[str]]:
    """Where the members lie ("" or an archive's inner folder), and those missing there: the place that holds
    the most of them."""
    row = DOWNLOADS[dataset]
    best = None
    for prefix in ["", *(f"{a.inner}/" for a in row.archives.values())]:
        missing = [prefix + m for m in row.members if not (folder / (prefix + m)).is_file()]
        if best is None or len(missing) < len(best[1]):
            best = (prefix, missing)
    return best


def verdict(dataset: str, folder, cache_dir=None) -> Verdict:
    """What a folder holds of a catalog data set. cache_dir: where the MD5s of its files are kept."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return Verdict("other", "a file, not a folder")
    if is_empty(folder):
        return Verdict("absent")
    row = DOWNLOADS[dataset]
    prefix, missing = _prefix(dataset, folder)
    if missing:
        return Verdict("other", f"missing {', '.join(missing)}", prefix)
    recorded = read_record(folder).get("members", {})
    expected = {m: md5 or recorded.get(m) for m, md5 in row.members.items()}
    unknown = [m for m, md5 in expected.items() if md5 is None]
    if unknown:
        return Verdict("unverifiable", f"no checksum of {', '.join(prefix + m for m in unknown)} is published and no "
                                       f"verified download recorded one ({RECORD})", prefix)
    found = _cached_md5s(folder, [prefix + m for m in row.members], cache_dir)
    md5s = {m: found[prefix + m] for m in row.members}
    wrong = [f"{prefix + m}: md5 {md5s[m]}, published {expected[m]}" for m in row.members if md5s[m] != expected[m]]
    if wrong:
        return Verdict("other", "; ".join(wrong), prefix, md5s)
    return Verdict("published", "", prefix, md5s)
