"""Download a catalog data set into its folder.

Sources are tried in order (the config's mirrors, then or instead of the catalog's) until one gives bytes that
match a published checksum. pooch does each transfer: requests underneath, so the usual proxy variables
(HTTPS_PROXY, HTTP_PROXY, NO_PROXY) apply; a file lands under a temporary name and is renamed only once its
checksum matches; a failed or mismatched transfer is retried with a growing wait. The members are unpacked
into a temporary folder beside the target, checked, and renamed into place: no one sees half a folder.

One process at a time per folder: a second Snakemake, or `nowrongturns data fetch`, waits on the folder's
lock, then finds it complete. A folder that holds anything else is refused, never overwritten.
"""
from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

from nowrongturns.datasets.catalog import DOWNLOADS, FILE, Archive, sources
from nowrongturns.datasets.published import RECORD, Verdict, file_md5, verdict
from nowrongturns.storage.files import write_json
from nowrongturns.storage.run_lock import waiting

log = logging.getLogger("nowrongturns")
CHUNK = 1 << 20  # bytes read per write (pooch's default, 1 KiB, costs a write per KiB)
TIMEOUT_S = 60  # per connection attempt and between bytes


class FetchError(RuntimeError):
    """No source gave the published data."""


class FolderRefused(FetchError):
    """The target folder holds something other than the published data; it is left as it is."""


class _Mismatch(ValueError):
    pass


def fetch(dataset: str, folder, mirrors: list[str] | None = None, retries: int = 3, cache_dir=None) -> Verdict:
    """Make `folder` hold the published `dataset`; a no-op when it does. Returns the folder's verdict."""
    row = DOWNLOADS[dataset]
    folder = Path(folder).absolute()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with waiting(folder.parent / f".{folder.name}.lock"):
        found = verdict(dataset, folder, cache_dir)
        if found.state == "published":
            log.info("%s: %s is already there and matches its published checksums; nothing to download",
                     folder, row.about)
            return found
        if found.state != "absent":
            raise FolderRefused(
                f"{folder} is not the published {row.about} ({found.reason}); it is left as it is. Move it away to "
                f"download again, or, to use it as your own data, set data_dir to it instead of auto")
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.part-", dir=folder.parent))
        try:
            unpacked = _first_good_source(dataset, sources(dataset, mirrors), work, retries)
            _move_into_place(unpacked, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    found = verdict(dataset, folder, cache_dir)
    log.info("%s: %s in place (%s)", folder, row.about, found.state)
    return found


def _first_good_source(dataset: str, urls: list[str], work: Path, retries: int) -> Path:
    """The unpacked, verified members of the first source that gives them, with their RECORD."""
    tried = []
    for url in urls:
        attempt = work / f"attempt-{len(tried)}"
        log.info("%s: trying %s", dataset, url)
        try:
            return _from_source(dataset, url, attempt, retries)
        except Exception as err:  # noqa: BLE001 (any failure of one source moves on to the next)
            why = f"{type(err).__name__}: {err}"
            log.warning("%s: %s failed: %s", dataset, url, why)
            tried.append(f"{url}: {why}")
            shutil.rmtree(attempt, ignore_errors=True)
    listed = "".join(f"\n  - {t}" for t in tried)
    raise FetchError(f"could not download {DOWNLOADS[dataset].about}; every source failed:{listed}\n"
                     f"Add a mirror that serves it under data.mirrors.{dataset} in the config (or --mirror), set "
                     f"HTTPS_PROXY if this machine reaches the web through a proxy, or place the files by hand "
                     f"(nowrongturns data list says what they are)")


def _from_source(dataset: str, url: str, attempt: Path, retries: int) -> Path:
    row = DOWNLOADS[dataset]
    got, unpacked = attempt / "download", attempt / "unpacked"
    unpacked.mkdir(parents=True)
    served = row.archive_of(url)
    record = {"dataset": dataset, "source": url}
    if served is None:  # a template: each member on its own, each checked against its published MD5
        for member, md5 in row.members.items():
            path = _download(url.replace(FILE, member), got / member, md5, retries)
            (unpacked / member).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, unpacked / member)
    else:
        name, archive = served
        path = _download(url, got / name, archive.md5, retries)
        _unpack(path, archive, list(row.members), unpacked)
        record.update(archive=name, archive_md5=archive.md5)  # None: the members' own checksums vouch for them
    record["members"] = {m: file_md5(unpacked / m) for m in row.members}
    wrong = [f"{m}: md5 {record['members'][m]}, published {md5}" for m, md5 in row.members.items()
             if md5 is not None and record["members"][m] != md5]
    if wrong:
        raise _Mismatch("unpacked files do not match their published checksums: " + "; ".join(wrong))
    write_json(record, unpacked / RECORD)
    return unpacked


def _download(url: str, dest: Path, md5: str | None, retries: int) -> Path:
    """dest, downloaded by pooch: under a temporary name, its MD5 checked (when published), then renamed."""
    import pooch

    dest.parent.mkdir(parents=True, exist_ok=True)
    getter = pooch.create(path=dest.parent, base_url="", registry={dest.name: f"md5:{md5}" if md5 else None},
                          urls={dest.name: url}, retry_if_failed=retries)
    downloader = pooch.HTTPDownloader(progressbar=LogProgress(dest.name), chunk_size=CHUNK, timeout=TIMEOUT_S)
    with _pooch_to_our_log():
        try:
            return Path(getter.fetch(dest.name, downloader=downloader))
        except ValueError as err:  # pooch's checksum mismatch: it names both digests
            raise _Mismatch(f"{dest.name} from {url}: {err}") from None


def _unpack(archive_path: Path, archive: Archive, members: list[str], into: Path) -> None:
    """Only the members, from the archive's inner folder, into `into`. Names are read as written by tar or zip,
    with or without a leading "./"; nothing else is extracted, so no name can write outside `into`."""
    wanted = {f"{archive.inner}/{m}": m for m in members}
    found = set()
    if archive_path.name.endswith(".zip"):
        with zipfile.ZipFile(archive_path) as z:
            for name in z.namelist():
                if name.removeprefix("./") in wanted:
                    with z.open(name) as src, open(into / wanted[name.removeprefix("./")], "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
                    found.add(name.removeprefix("./"))
    else:
        with tarfile.open(archive_path) as t:
            for info in t:
                name = info.name.removeprefix("./")
                if name in wanted and info.isfile():
                    with t.extractfile(info) as src, open(into / wanted[name], "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
                    found.add(name)
    missing = sorted(set(wanted) - found)
    if missing:
        raise _Mismatch(f"{archive_path.name} lacks {', '.join(missing)}")


def _move_into_place(unpacked: Path, folder: Path) -> None:
    """Rename the finished folder into place. An empty one there, or one left with only a stale record, is
    replaced; anything else was refused before the download (published.is_empty)."""
    if folder.exists():
        (folder / RECORD).unlink(missing_ok=True)
        folder.rmdir()
    os.replace(unpacked, folder)


class LogProgress:
    """pooch's progress bar protocol (total, update, reset, close), as log lines every tenth of a transfer."""

    def __init__(self, name: str):
        self.name, self.total, self.done, self.next_tenth = name, 0, 0, 1

    def update(self, n: int) -> None:
        self.done += n
        tenth = min(self.done, self.total) * 10 // self.total if self.total else 0
        if self.next_tenth <= tenth < 10:
            log.info("%s: %d%% of %.1f MB", self.name, tenth * 10, self.total / 1e6)
            self.next_tenth = tenth + 1

    def reset(self) -> None:
        self.done, self.next_tenth = 0, 10  # pooch then updates by the whole size: only close() speaks

    def close(self) -> None:
        size = f"{self.total / 1e6:.1f} MB" if self.total else "its size not sent by the server"
        log.info("%s: downloaded %s", self.name, size)
        self.done, self.next_tenth = 0, 1


class _pooch_to_our_log:
    """pooch logs each attempt and retry to its own logger: send them to the rule's log too."""

    class _Forward(logging.Handler):
        def emit(self, record):
            log.log(record.levelno, "pooch: %s", record.getMessage())

    def __enter__(self):
        import pooch

        self.logger, self.handler = pooch.get_logger(), self._Forward()
        self.logger.addHandler(self.handler)

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)
