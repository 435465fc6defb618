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
# one optional separator between digits: space, tab, hyphen, no-break / ideographic space
_SEP = "[ \\t\\-\u00a0\u3000]?"
_D18 = rf"\d(?:{_SEP}\d){{16}}{_SEP}[\dXx]"
_D15 = rf"\d(?:{_SEP}\d){{14}}"
# 18-digit (17 digits + digit/X) and 15-digit resident ID numbers, not inside longer digit runs.
# Letters may touch them (``ID330...``). Digits after a decimal point (floats such as
# 0.0011952191235059761) and before one (123456789012345678.5) are numbers, not ID numbers.
_ID_PATTERN = re.compile(rf"(?<!\d)(?<!\d\.)(?:{_D18}(?!\d|\.\d)|{_D15}(?![\dXx]|\.\d))")
_SEPARATORS = re.compile("[ \\t\\-\u00a0\u3000]")

# ESC sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-character escapes;
# the 8-bit CSI/OSC introducers too.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[@-_]?"
)


def _is_org_code(token: str) -> bool:
    """An all-digit token that is a valid USCC (GB 32100) and not a valid ID number (GB 11643):
    an organisation's public code, not a person's ID. Ambiguous tokens count as ID numbers."""
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
    for m in _ID_PATTERN.finditer(probe):
        token = text[m.start() : m.end()]
        if _is_org_code(_digits(token)):
            continue
        parts.append(text[last : m.start()])
        parts.append(_mask_token(token))
        last = m.end()
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
    return any(not _is_org_code(_digits(m.group(0))) for m in _ID_PATTERN.finditer(probe))


def pseudonym(value: str, key: bytes) -> str:
    """A stable, keyed pseudonym for a subject id (the key lives in the store)."""
    return "S" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


class MaskingFilter(logging.Filter):
    """Logging filter that masks ID numbers (and strips escape sequences) in every message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = ()
        return True
