"""Personal-information protection: raw ID numbers never leave the store.

* :func:`mask_id` shows an identifier as ``110**************X`` (no birth date, no sex digit);
* :func:`scrub` masks every ID-number-like token in free text (logs, reports, exports);
* :func:`pseudonym` gives a stable keyed token (HMAC-SHA256) for joining outputs without IDs;
* :class:`MaskingFilter` applies :func:`scrub` to every log record.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

# 18-digit (17 digits + digit/X) and 15-digit resident ID numbers, not inside longer tokens.
# Digits after a decimal point (floats such as 0.0011952191235059761) are not ID numbers.
_ID_PATTERN = re.compile(r"(?<![0-9A-Za-z.])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z]|\.\d)")


def _is_org_code(token: str) -> bool:
    """An all-digit token that is a valid USCC (GB 32100) and not a valid ID number (GB 11643):
    an organisation's public code, not a person's ID. Ambiguous tokens count as ID numbers."""
    import datetime as dt

    from scoring.core.identifiers import is_valid_id_number, is_valid_uscc

    return len(token) == 18 and is_valid_uscc(token) and not is_valid_id_number(token, latest_birth=dt.date.today())


def mask_id(value: object) -> str:
    """Mask a person's ID number; organisation codes (USCC) are public and pass through."""
    if value is None:
        return ""
    s = str(value)
    if _ID_PATTERN.fullmatch(s) and not _is_org_code(s):
        return s[:3] + "*" * (len(s) - 4) + s[-1]
    return s


def scrub(text: str) -> str:
    """Mask every ID-number-like token in ``text``."""
    return _ID_PATTERN.sub(lambda m: mask_id(m.group(0)), text)


def contains_raw_id(text: str) -> bool:
    """True when ``text`` contains an unmasked ID-number-like token (valid organisation codes aside)."""
    return any(not _is_org_code(m.group(0)) for m in _ID_PATTERN.finditer(text))


def pseudonym(value: str, key: bytes) -> str:
    """A stable, keyed pseudonym for a subject id (the key lives in the store)."""
    return "S" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


class MaskingFilter(logging.Filter):
    """Logging filter that masks ID numbers in every message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = ()
        return True
