"""A run's forks as the config declares them: checked, merged across studies, named."""
from __future__ import annotations

from nowrongturns.config.errors import ConfigError


def check_forks(settings: dict, where: str) -> list[dict]:
    """A run's forks, sorted by (at_epoch, seed): each before the budget, with a seed of its own."""
    forks = [{"at_epoch": int(f["at_epoch"]), "seed": int(f["seed"])} for f in settings.get("forks") or []]
    for i, fork in enumerate(forks):
        key = f"config key {where}.forks[{i}]"
        if fork["at_epoch"] >= settings["epochs"]:
            raise ConfigError(f"{key}.at_epoch = {fork['at_epoch']}: at or past the run's budget of "
                              f"{settings['epochs']} epochs (a fork starts from a checkpoint before w*)")
        if fork["seed"] == settings["seed"]:
            raise ConfigError(f"{key}.seed = {fork['seed']}: the run's own seed; a fork needs another one "
                              f"(with the same seed it retraces the run)")
        if settings["model"] == "sinusoidal_mixture":
            raise ConfigError(f"{key}: sinusoidal_mixture is deterministic (no data, no noise), so a fork "
                              f"would retrace the run whatever its seed")
    if len({(f["at_epoch"], f["seed"]) for f in forks}) != len(forks):
        raise ConfigError(f"config key {where}.forks: a fork is listed twice ({forks})")
    return sorted(forks, key=lambda f: (f["at_epoch"], f["seed"]))


def union_forks(a: list[dict], b: list[dict]) -> list[dict]:
    unique = {(f["at_epoch"], f["seed"]) for f in [*a, *b]}
    return [{"at_epoch": at, "seed": seed} for at, seed in sorted(unique)]


def fork_id(fork: dict) -> str:
    """A fork's folder under its run: at<epoch>-seed<seed>."""
    return f"at{fork['at_epoch']}-seed{fork['seed']}"
