"""Exceptions raised by xinyi. Every message says what was wrong and what to do."""
from __future__ import annotations


class XinyiError(Exception):
    """Base class for all xinyi errors."""


class ConfigError(XinyiError, ValueError):
    """A configuration file (configs/*.yaml) is invalid.

    The message names the file and the dotted path of the offending field.
    """


class InputFileError(XinyiError):
    """An input file of a credit archive cannot be read at all."""


class StoreError(XinyiError):
    """The embedded store is missing, locked or from an incompatible version."""
