"""The one error hierarchy of xinyi. Every message says what was wrong and what to do.

The CLI and the service catch :class:`XinyiError` once and show its message (exit code 2); anything
else is a bug and keeps its traceback.

* :class:`ConfigError` — a configuration file (configs/*.yaml) is invalid;
* :class:`DataError` — input data cannot be used (:class:`InputFileError` for a file that cannot be
  read at all, :class:`StoreError` for the embedded store);
* :class:`NotFoundError` — a subject, model, publication or file asked for does not exist;
* :class:`NotFittedError` — a model was used before ``fit`` (also scikit-learn's NotFittedError).
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFitted


class XinyiError(Exception):
    """Base class for all xinyi errors.

    Its text is safe to print wherever it goes: ID numbers are masked and control characters and
    escape sequences removed (:func:`scoring.core.privacy.scrub`), whatever the message was built from.
    """

    def __str__(self) -> str:
        from scoring.core.privacy import scrub

        return scrub(super().__str__())


class ConfigError(XinyiError, ValueError):
    """A configuration file (configs/*.yaml) is invalid.

    The message names the file and the dotted path of the offending field.
    """


class DataError(XinyiError, ValueError):
    """Input data (a file, a frame, a date or an identifier) cannot be used as given."""


class InputFileError(DataError):
    """An input file of a credit archive cannot be read at all."""


class StoreError(DataError):
    """The embedded store is missing, locked or from an incompatible version."""


class NotFoundError(XinyiError, LookupError):
    """A subject, model version, publication or file that was asked for does not exist."""


class NotFittedError(XinyiError, _SklearnNotFitted):
    """A model was used before it was fitted; call ``fit`` first (or load a saved model)."""


class XinyiWarning(UserWarning):
    """A xinyi warning: the result stands, but something in it deserves a look (e.g. a fitted card
    whose non-negativity rule zeroed an informative feature). Filter all of them with
    ``warnings.simplefilter("error", XinyiWarning)`` in a pipeline that must not pass them."""
