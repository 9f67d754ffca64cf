"""Each data folder a config names: its identity (which joins the run's id) and a check against its loader's layout.

A folder's identity is its fingerprint (storage/fingerprint.py), except for the published data a catalog row
describes (datasets/catalog.py): there it is the published checksums, whether the folder was downloaded
(data_dir: auto) or placed by hand, so switching between the two reruns nothing. data_dir: auto names
<data.root>/<dataset>, which the rule fetch_data downloads: its identity is known before it exists.
"""
from __future__ import annotations

import os
from pathlib import Path

from nowrongturns.config.errors import ConfigError
from nowrongturns.datasets.catalog import DOWNLOADS, MANUAL, how_to_get
from nowrongturns.storage.paths import published_mark

AUTO = "auto"


class DataFolders:
    """Each data folder identified and checked once per load, whichever runs read it."""

    def __init__(self, results: str, root: str):
        self.results, self.root, self.seen = results, root, {}
        self.cache_dir = f"{results}/.cache/data"
        self.fetched: dict[str, str] = {}  # data set -> the folder data_dir: auto names (rule fetch_data)
        self.by_hand: dict[str, set[str]] = {}  # data set -> folders placed by hand that hold its published files

    def of(self, settings: dict, where: str, read: bool = True) -> str:
        """The identity of the run's data; data_dir: auto becomes the folder it names.
        read: look at the folder (False names a folder read from elsewhere 'unread', a name no job can use)."""
        if settings["data_dir"] == AUTO:
            settings["data_dir"] = self._auto(settings["dataset"], where, read)
            return DOWNLOADS[settings["dataset"]].identity
        if not read:
            return "unread"
        key = (settings["data_dir"], settings["dataset"])
        if key not in self.seen:
            self.seen[key] = self._identify(*key, where)
        return self.seen[key]

    def _auto(self, dataset: str, where: str, read: bool) -> str:
        if dataset in MANUAL:
            raise ConfigError(f"config key {where}.data_dir = 'auto': {how_to_get(dataset)}")
        if dataset not in DOWNLOADS:
            raise ConfigError(f"config key {where}.data_dir = 'auto': dataset {dataset!r} has no download (auto "
                              f"fetches {', '.join(DOWNLOADS)}); set data_dir to the folder that holds it")
        folder = f"{self.root}/{dataset}"
        if read and folder not in self.fetched.values():
            from nowrongturns.datasets.published import verdict

            found = verdict(dataset, folder, self.cache_dir)
            if found.state == "absent":  # gone since it was fetched: the mark that said so is stale
                Path(published_mark(self.results, dataset)).unlink(missing_ok=True)
            elif found.state != "published":
                raise ConfigError(
                    f"config key {where}.data_dir = 'auto': {folder} is not the published "
                    f"{DOWNLOADS[dataset].about} ({found.reason}), so it is neither used nor overwritten. Move it "
                    f"away to download again, or set data_dir: {folder} to use it as your own data")
        self.fetched[dataset] = folder
        return folder

    def _identify(self, folder: str, dataset: str, where: str) -> str:
        from nowrongturns.config.data_layout import DataLayoutError, check_layout
        from nowrongturns.storage.fingerprint import DataChanged, fingerprint

        try:
            found = fingerprint(folder, self.cache_dir)
            check_layout(dataset, folder, found.files)
        except FileNotFoundError:
            raise ConfigError(f"config key {where}.data_dir = {folder!r}: no such folder (relative paths start at "
                              f"{os.getcwd()}). {_how_to_fill(dataset)}") from None
        except (DataLayoutError, DataChanged) as err:
            raise ConfigError(f"config key {where}.data_dir = {folder!r}: {err}") from None
        if dataset in DOWNLOADS:
            from nowrongturns.datasets.published import verdict

            if verdict(dataset, folder, self.cache_dir).state == "published":
                self.by_hand.setdefault(dataset, set()).add(folder)
                return DOWNLOADS[dataset].identity
        return found.digest


def _how_to_fill(dataset: str) -> str:
    if dataset in DOWNLOADS:
        return (f"data_dir: auto downloads {DOWNLOADS[dataset].about} (or: nowrongturns data fetch {dataset} "
                f"--to DIR)")
    if dataset in MANUAL:
        return how_to_get(dataset)
    return ""
