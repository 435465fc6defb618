"""Subject identifiers: 统一社会信用代码 (USCC, GB 32100-2015) and 居民身份证号码 (GB 11643-1999).

Validation is vectorised with numpy so that millions of subjects check in about a second; the
scalar helpers (:func:`is_valid_uscc`, :func:`is_valid_id_number`) call the same code on one value.
Tests cross-check against python-stdnum (``stdnum.cn.uscc`` / ``stdnum.cn.ric``), which covers
fewer cases (no 15-digit numbers, no births before 1900).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from enum import IntEnum

import numpy as np

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # values 0..30; no I O S V Z
USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
ID_CHECK = "10X98765432"

_USCC_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_CHARSET):
    _USCC_VALUE[ord(_c)] = _i
# GB 11714 organisation code: digits 0-9, letters A=10 .. Z=35
_ORG_VALUE = np.full(256, -1, dtype=np.int64)
for _c in "0123456789":
    _ORG_VALUE[ord(_c)] = int(_c)
for _c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _ORG_VALUE[ord(_c)] = ord(_c) - 55
_DIGIT = np.full(256, -1, dtype=np.int64)
for _c in "0123456789":
    _DIGIT[ord(_c)] = int(_c)


class IdStatus(IntEnum):
    """Outcome of checking one identifier."""

    OK = 0
    EMPTY = 1
    BAD_LENGTH = 2
    BAD_CHARACTER = 3
    BAD_CHECK = 4
    BAD_ORG_CHECK = 5
    BAD_REGION = 6
    BAD_BIRTH_DATE = 7

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    IdStatus.OK: "valid",
    IdStatus.EMPTY: "empty",
    IdStatus.BAD_LENGTH: "wrong length",
    IdStatus.BAD_CHARACTER: "character outside the allowed set",
    IdStatus.BAD_CHECK: "check character does not match",
    IdStatus.BAD_ORG_CHECK: "organisation-code (GB 11714) check character does not match",
    IdStatus.BAD_REGION: "administrative division code is not 6 digits",
    IdStatus.BAD_BIRTH_DATE: "birth date is not a valid date",
}


def normalise_id(value: object) -> str:
    """The one normalisation of an identifier, applied before validation and storage alike.

    NFKC (full-width ``３３０７`` -> ``3307``, ``Ｘ`` -> ``X``), then every whitespace, control,
    format (zero-width, BOM, bidi) and separator character is removed wherever it stands (government
    exports keep IDs as text with a leading tab or a trailing CR/LF), then letters are upper-cased
    (a lowercase check character ``x`` becomes ``X``). Missing values become ``""``.
    """
    if value is None or (isinstance(value, float) and value != value):
        return ""
    s = str(value)
    if s.isascii() and s.isalnum():
        return s.upper()
    s = unicodedata.normalize("NFKC", s)
    return "".join(c for c in s if not (c.isspace() or unicodedata.category(c)[0] in "CZ")).upper()


def normalise(values: Iterable[object]) -> np.ndarray:
    """:func:`normalise_id` over ``values``; missing values become empty strings."""
    return np.array([normalise_id(v) for v in values], dtype=object)


def _byte_matrix(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``values`` that are ASCII strings of exactly ``width`` as a uint8 matrix."""
    lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    ascii_ok = np.fromiter((v.isascii() for v in values), dtype=bool, count=len(values))
    idx = np.flatnonzero((lengths == width) & ascii_ok)
    if len(idx) == 0:
        return idx, np.zeros((0, width), dtype=np.uint8)
    mat = np.array(values[idx].tolist(), dtype=f"S{width}").view(np.uint8).reshape(-1, width)
    return idx, mat


def _status_array(values: np.ndarray) -> np.ndarray:
    status = np.full(len(values), int(IdStatus.BAD_LENGTH), dtype=np.int8)
    empty = np.fromiter((len(v) == 0 for v in values), dtype=bool, count=len(values))
    status[empty] = IdStatus.EMPTY
    return status


def uscc_check_values(body: np.ndarray) -> np.ndarray:
    """GB 32100 check values (0..30) for an (n, 17) matrix of character values."""
    return (31 - (body @ USCC_WEIGHTS) % 31) % 31


def org_check_chars(org8: np.ndarray) -> np.ndarray:
    """GB 11714 check characters (as ASCII codes) for an (n, 8) matrix of organisation values."""
    r = 11 - (org8 @ ORG_WEIGHTS) % 11
    out = (r + ord("0")).astype(np.int64)
    out[r == 10] = ord("X")
    out[r == 11] = ord("0")
    return out


def check_uscc(values: Iterable[object]) -> np.ndarray:
    """Status (:class:`IdStatus` values) of each USCC in ``values``."""
    vals = normalise(values)
    status = _status_array(vals)
    idx, mat = _byte_matrix(vals, 18)
    if len(idx) == 0:
        return status
    v = _USCC_VALUE[mat]
    s = np.full(len(idx), int(IdStatus.OK), dtype=np.int8)
    bad_char = (v < 0).any(axis=1)
    region_ok = (_DIGIT[mat[:, 2:8]] >= 0).all(axis=1)
    org_vals = _ORG_VALUE[mat[:, 8:16]]
    check_ok = uscc_check_values(np.where(v[:, :17] < 0, 0, v[:, :17])) == v[:, 17]
    org_ok = org_check_chars(np.where(org_vals < 0, 0, org_vals)) == mat[:, 16]
    s[~org_ok] = IdStatus.BAD_ORG_CHECK
    s[~check_ok] = IdStatus.BAD_CHECK
    s[~region_ok] = IdStatus.BAD_REGION
    s[bad_char] = IdStatus.BAD_CHARACTER
    status[idx] = s
    return status


def _valid_dates(y: np.ndarray, m: np.ndarray, d: np.ndarray, latest: dt.date | None) -> np.ndarray:
    ok = (m >= 1) & (m <= 12) & (d >= 1) & (y >= 1800)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    mdays = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 0, 12)]
    mdays = mdays + ((m == 2) & leap)
    ok &= d <= mdays
    if latest is not None:
        ok &= (y * 10000 + m * 100 + d) <= latest.year * 10000 + latest.month * 100 + latest.day
    return ok


def check_id_number(values: Iterable[object], latest_birth: dt.date | None = None) -> np.ndarray:
    """Status of each resident ID number (18-digit with check, or 15-digit first generation).

    ``latest_birth``: birth dates after this (e.g. the export date) are invalid.
    """
    vals = normalise(values)
    status = _status_array(vals)
    # 18-digit
    idx, mat = _byte_matrix(vals, 18)
    if len(idx):
        dig = _DIGIT[mat[:, :17]]
        last = mat[:, 17]
        s = np.full(len(idx), int(IdStatus.OK), dtype=np.int8)
        bad_char = (dig < 0).any(axis=1) | ~((_DIGIT[last] >= 0) | (last == ord("X")))
        digz = np.where(dig < 0, 0, dig)
        expected = np.frombuffer(ID_CHECK.encode(), dtype=np.uint8)[(digz @ ID_WEIGHTS) % 11]
        y = digz[:, 6:10] @ np.array([1000, 100, 10, 1])
        m = digz[:, 10:12] @ np.array([10, 1])
        d = digz[:, 12:14] @ np.array([10, 1])
        date_ok = _valid_dates(y, m, d, latest_birth)
        region_ok = (digz[:, 0] >= 1) & (digz[:, 0] <= 9)
        s[expected != last] = IdStatus.BAD_CHECK
        s[~date_ok] = IdStatus.BAD_BIRTH_DATE
        s[~region_ok] = IdStatus.BAD_REGION
        s[bad_char] = IdStatus.BAD_CHARACTER
        status[idx] = s
    # 15-digit: no check character; region, 2-digit year (19YY) and date must be plausible
    idx, mat = _byte_matrix(vals, 15)
    if len(idx):
        dig = _DIGIT[mat]
        s = np.full(len(idx), int(IdStatus.OK), dtype=np.int8)
        bad_char = (dig < 0).any(axis=1)
        digz = np.where(dig < 0, 0, dig)
        y = 1900 + digz[:, 6:8] @ np.array([10, 1])
        m = digz[:, 8:10] @ np.array([10, 1])
        d = digz[:, 10:12] @ np.array([10, 1])
        date_ok = _valid_dates(y, m, d, latest_birth)
        region_ok = (digz[:, 0] >= 1) & (digz[:, 0] <= 9)
        s[~date_ok] = IdStatus.BAD_BIRTH_DATE
        s[~region_ok] = IdStatus.BAD_REGION
        s[bad_char] = IdStatus.BAD_CHARACTER
        status[idx] = s
    return status


def is_valid_uscc(value: str) -> bool:
    return check_uscc([value])[0] == IdStatus.OK


def is_valid_id_number(value: str, latest_birth: dt.date | None = None) -> bool:
    return check_id_number([value], latest_birth)[0] == IdStatus.OK


# -- construction (used by the synthetic archive generator) ---------------------------------
def complete_uscc(first16: np.ndarray) -> np.ndarray:
    """Given an (n, 16) uint8 matrix of USCC characters (positions 1-16), return full 18-char codes
    with the GB 11714 organisation check (position 17) and GB 32100 check (position 18)."""
    org = _ORG_VALUE[first16[:, 8:16]]
    c17 = org_check_chars(org).astype(np.uint8)
    body = np.concatenate([first16, c17[:, None]], axis=1)
    chk = uscc_check_values(_USCC_VALUE[body])
    c18 = np.frombuffer(USCC_CHARSET.encode(), dtype=np.uint8)[chk]
    full = np.concatenate([body, c18[:, None]], axis=1)
    return full.copy().view("S18").ravel().astype(str)


def complete_id_number(first17: np.ndarray) -> np.ndarray:
    """Given an (n, 17) uint8 matrix of ID digits (ASCII), append the GB 11643 check character."""
    dig = first17.astype(np.int64) - ord("0")
    c18 = np.frombuffer(ID_CHECK.encode(), dtype=np.uint8)[(dig @ ID_WEIGHTS) % 11]
    full = np.concatenate([first17, c18[:, None]], axis=1)
    return full.copy().view("S18").ravel().astype(str)
