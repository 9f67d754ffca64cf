"""The one error every config problem raises."""
from __future__ import annotations


class ConfigError(ValueError):
    """A config problem, with the offending key and value in the message."""
