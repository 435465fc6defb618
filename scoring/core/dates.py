"""Calendar arithmetic and period parsing used across the archive, features and rules."""

from __future__ import annotations

import calendar
import datetime as dt
import re

_PERIOD = re.compile(r"^\s*(\d+)\s*([ymYM]?)\s*$")


def parse_months(value: object) -> int:
    """Parse a period: ``0``, ``3m``, ``1y`` -> months."""
    if isinstance(value, bool):
        raise ValueError(f"not a period: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a period cannot be negative")
        return value
    m = _PERIOD.match(str(value))
    if not m:
        raise ValueError(f"not a period: {value!r}; write e.g. 0, 3m or 1y")
    n, unit = int(m.group(1)), m.group(2).lower()
    return n * 12 if unit == "y" else n


def add_months(d: dt.date, months: int) -> dt.date:
    """``d`` plus ``months`` calendar months, clamping the day to the month's end."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))
