"""Reading a config file, with syntax errors that name the file, line and column."""
from __future__ import annotations

import yaml

from nowrongturns.config.errors import ConfigError


def read_config_file(path) -> dict:
    """A YAML (or JSON) config file; a syntax error names the file, line and column (Snakemake's does not)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as err:
        raise ConfigError(f"config file not found: {path}") from err
    except yaml.MarkedYAMLError as err:
        def at(mark):
            return f"line {mark.line + 1}, column {mark.column + 1}"

        mark = err.problem_mark or err.context_mark
        message = f"config file {path}, {at(mark) if mark else 'unknown position'}: not valid YAML: {err.problem}"
        if err.context and err.context_mark:
            message += f" ({err.context} at {at(err.context_mark)})"
        raise ConfigError(message) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path}: not valid YAML: {err}") from None
