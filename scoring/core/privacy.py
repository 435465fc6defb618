"""Personal-information protection: raw ID numbers never leave the store.

* :func:`mask_id` shows an identifier as ``110**************X`` (no birth date, no sex digit);
* :func:`scrub` makes any text from data safe to print or export: terminal escape sequences and
  control characters are removed and every ID-number-like token is masked, wherever it stands
  (glued to letters as in ``ID330...``, with spaces or hyphens inside, in full-width digits);
* :func:`strip_controls` removes escape sequences and control characters only;
* :func:`pseudonym` gives a stable keyed token (HMAC-SHA256) for joining outputs without IDs;
* :class:`MaskingFilter` applies :func:`scrub` to every log record.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import unicodedata

# Full-width digits and X (as typed with a Chinese input method) are read as ASCII for detection;
# the translation keeps every character's position, so a match maps back onto the original text.
_WIDE = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | {"\uff38": "X", "\uff58": "x"})
# 18-digit (17 digits + digit/X) and 15-digit resident ID numbers written without separators, not
# inside longer digit runs. Letters may touch them (``ID330...``). Digits after a decimal point
# (floats such as 0.0011952191235059761) and before one (123456789012345678.5) are numbers.
_ID_PATTERN = re.compile(r"(?<!\d)(?<!\d\.)(?:\d{17}[\dXx](?!\d|\.\d)|\d{15}(?![\dXx]|\.\d))")
# Runs of digit groups joined by one separator each (space, tab, hyphen, no-break or ideographic
# space): an ID number written in groups (330102 YYYYMMDD 123X, 330102YYY-YYMMDD123X) is such a run
# on its own. A run counts when its groups have 2 characters or more, it has at most 4 separators
# and it reads as an ID number: a plausible birth date and, for 18 characters, the GB 11643 check
# character. So a model file's "2 2 2 2 ..." or a list of counts "2043 1181 862 ..." is not one.
_SEP_CLASS = "[ \\t\\-\u00a0\u3000]"
_GROUPED = re.compile(rf"(?<![\d.])\d+(?:{_SEP_CLASS}[\dXx]+)+")
_GROUP = re.compile(r"[\dXx]+")
_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


#: First two digits of GB/T 2260 province-level codes: every resident ID number starts with one.
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)


def _plausible(digits: str) -> bool:
    """Does a 15/18-character token read as an ID number: a province code, a birth date and, for 18
    characters, the GB 11643 check character? (Every ID number in a store passed these checks.)"""
    if digits[:2] not in _PROVINCES:
        return False
    if len(digits) == 18:
        if not digits[:17].isdigit():
            return False
        y, m, d = int(digits[6:10]), int(digits[10:12]), int(digits[12:14])
        check = "10X98765432"[sum(int(c) * w for c, w in zip(digits[:17], _WEIGHTS)) % 11]
        return 1900 <= y <= 2100 and 1 <= m <= 12 and 1 <= d <= 31 and digits[17] == check
    if len(digits) == 15 and digits.isdigit():
        m, d = int(digits[8:10]), int(digits[10:12])
        return 1 <= m <= 12 and 1 <= d <= 31
    return False


_HEX = frozenset("0123456789abcdef")


def _word_around(probe: str, start: int, end: int) -> str:
    """The ASCII letters-and-digits word that holds probe[start:end] (a USCC such as
    12330702MB1234567X holds a run of 15 digits)."""
    a, b = start, end
    while a > 0 and probe[a - 1].isascii() and probe[a - 1].isalnum():
        a -= 1
    while b < len(probe) and probe[b].isascii() and probe[b].isalnum():
        b += 1
    return probe[a:b].upper()


def _id_spans(probe: str) -> list[tuple[int, int]]:
    """Start and end of every ID-number-like token in ``probe`` (full-width digits already read as
    ASCII), organisation codes left out."""
    spans = []
    for m in _ID_PATTERN.finditer(probe):
        # a digit run inside a long lowercase hex string (MLflow run ids, digests: 32 characters and
        # more) is not an ID number; written out in one piece, anything else with a province prefix
        # counts (a mistyped ID number in a quarantined row is still a person's); grouped tokens
        # below must read as an ID number
        a, b = m.start(), m.end()
        while a > 0 and probe[a - 1] in _HEX:
            a -= 1
        while b < len(probe) and probe[b] in _HEX:
            b += 1
        if b - a >= 24 or m.group(0)[:2] not in _PROVINCES or _is_org_code(_word_around(probe, m.start(), m.end())):
            continue
        spans.append((m.start(), m.end()))
    for run in _GROUPED.finditer(probe):
        groups = [(g.start(), g.end()) for g in _GROUP.finditer(probe, run.start(), run.end())]
        n = sum(e - s_ for s_, e in groups)
        if n in (15, 18) and len(groups) <= 5 and all(e - s_ >= 2 for s_, e in groups):
            widths = [e - s_ for s_, e in groups]
            # a 15-character number has no check character: only a run that keeps the 6-digit
            # region code together (or split 3 + 3) reads as one; a row of counts in a model file
            # ("1355 1234 1110 121") does not
            if n == 15 and not (widths[0] >= 6 or widths[:2] == [3, 3]):
                continue
            digits = _digits(probe[run.start() : run.end()])
            if _plausible(digits) and not _is_org_code(digits):
                spans.append((run.start(), run.end()))
    spans.sort()
    out: list[tuple[int, int]] = []
    for sp in spans:  # drop overlaps, keep the first
        if not out or sp[0] >= out[-1][1]:
            out.append(sp)
    return out


_SEPARATORS = re.compile("[ \\t\\-\u00a0\u3000]")

# ESC sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-character escapes;
# the 8-bit CSI/OSC introducers too.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[@-_]?"
)


def _is_org_code(token: str) -> bool:
    """A token that is a valid USCC (GB 32100) and not a valid ID number (GB 11643): an
    organisation's public code, not a person's ID. Ambiguous all-digit tokens count as ID numbers."""
    import datetime as dt

    from scoring.core.identifiers import is_valid_id_number, is_valid_uscc

    return len(token) == 18 and is_valid_uscc(token) and not is_valid_id_number(token, latest_birth=dt.date.today())


def _digits(token: str) -> str:
    return _SEPARATORS.sub("", token.translate(_WIDE)).upper()


def _mask_token(token: str) -> str:
    d = _digits(token)
    return d[:3] + "*" * (len(d) - 4) + d[-1]


def mask_id(value: object) -> str:
    """Mask a person's ID number; organisation codes (USCC) are public and pass through."""
    if value is None:
        return ""
    s = str(value)
    if _ID_PATTERN.fullmatch(s.translate(_WIDE)) and not _is_org_code(_digits(s)):
        return _mask_token(s)
    return s


def strip_controls(text: str, *, newlines: bool = True) -> str:
    """Remove terminal escape sequences and control/format characters (NUL, ESC, BEL, zero-width
    and bidi overrides). ``newlines``: keep ``\\n`` (multi-line text); tabs become spaces."""
    text = _ESCAPES.sub("", text)
    if text.isascii() and text.isprintable():
        return text
    out = []
    for c in text:
        if c == "\n" and newlines:
            out.append(c)
        elif c in "\t\r\n":
            out.append(" ")
        elif unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            continue
        else:
            out.append(c)
    return "".join(out)


def _mask_matches(text: str) -> str:
    probe = text.translate(_WIDE)
    parts, last = [], 0
    for start, end in _id_spans(probe):
        parts.append(text[last:start])
        parts.append(_mask_token(text[start:end]))
        last = end
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def scrub(text: str, *, newlines: bool = True) -> str:
    """Text from data made safe to print or export: escape sequences and control characters
    removed (see :func:`strip_controls`), every ID-number-like token masked."""
    return _mask_matches(strip_controls(str(text), newlines=newlines))


def contains_raw_id(text: str) -> bool:
    """True when ``text`` contains an unmasked ID-number-like token (valid organisation codes aside)."""
    probe = strip_controls(str(text)).translate(_WIDE)
    return bool(_id_spans(probe))


def pseudonym(value: str, key: bytes) -> str:
    """A stable, keyed pseudonym for a subject id (the key lives in the store): ``S`` and 16 base32
    characters (80 bits of HMAC-SHA256). Base32 (a-z, 2-7) and not hex: a run of 15 or more digits,
    which the ID scanner would have to read as an ID number, practically never occurs in it."""
    import base64

    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()[:10]
    return "S" + base64.b32encode(digest).decode("ascii").lower()


class MaskingFilter(logging.Filter):
    """Logging filter that masks ID numbers (and strips escape sequences) in every message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = ()
        return True
