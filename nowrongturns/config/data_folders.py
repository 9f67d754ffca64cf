"""Each data folder a config names: fingerprinted (its content joins the run's id) and checked against its loader's layout."""
from __future__ import annotations

import os

from nowrongturns.config.errors import ConfigError


class DataFolders:
    """Each data folder fingerprinted and checked once per load, whichever runs read it."""

    def __init__(self, cache_dir: str):
        self.cache_dir, self.seen = cache_dir, {}

    def of(self, settings: dict, where: str) -> str:
        from nowrongturns.config.data_layout import DataLayoutError, check_layout
        from nowrongturns.storage.fingerprint import DataChanged, fingerprint

        folder, dataset = settings["data_dir"], settings["dataset"]
        key = (folder, dataset)
        if key not in self.seen:
            try:
                found = fingerprint(folder, self.cache_dir)
                check_layout(dataset, folder, found.files)
            except FileNotFoundError:
                raise ConfigError(f"config key {where}.data_dir = {folder!r}: no such folder "
                                  f"(relative paths start at {os.getcwd()})") from None
            except (DataLayoutError, DataChanged) as err:
                raise ConfigError(f"config key {where}.data_dir = {folder!r}: {err}") from None
            self.seen[key] = found.digest
        return self.seen[key]
