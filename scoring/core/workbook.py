"""The one workbook writer (xlsxwriter) for every .xlsx xinyi gives to officials: grade lists,
inspection plans (双随机抽查计划), 信易贷 whitelists, register exports; the CLI and the service alike.

What a regulator gets, whatever the sheet:

* column widths from the content, East Asian wide characters (``unicodedata.east_asian_width``
  W/F) counting 2; long text (reasons of 140 characters) capped and wrapped;
* a bold, filled header row, frozen with the sheet's key columns (``key_columns``: e.g. 统一社会信用代码,
  名称, 信用等级), an autofilter;
* numbers by column kind: ``percent`` and ``prob`` as ``65.1%`` (``25%`` when every value is a whole
  percent), ``int`` ``#,##0``, ``float`` ``0.00``, ``date`` ``yyyy-mm-dd`` as real dates (ISO text
  is parsed), ``datetime``, ``bool`` as 是/否, ``code`` as text (an identifier never turns into a
  number);
* printing: landscape A4, fit to one page wide, the title and header rows and the key columns
  repeated on every page, the sheet's title in the page header and 第 N 页 / 共 M 页 in the footer;
* inert text (:mod:`scoring.core.inert`): every text is a string cell, never a formula, URL or
  number; a text starting like a formula also gets Excel's quote prefix; controls are removed and
  ID-number-like tokens masked (:func:`scoring.core.privacy.scrub`).

``write_workbook(target, [Sheet(...), notes_sheet({...})])`` or ``workbook_bytes(sheets)``.
Kinds are inferred when not given (:func:`infer_kind`).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from scoring.core.errors import DataError
from scoring.core.inert import is_dangerous
from scoring.core.privacy import scrub, strip_controls

Kind = Literal["text", "code", "int", "float", "percent", "date", "datetime", "prob", "bool"]
KINDS: tuple[str, ...] = ("text", "code", "int", "float", "percent", "date", "datetime", "prob", "bool")

#: Width limits of a column, in character cells (a CJK character counts 2).
MIN_WIDTH = 6
MAX_WIDTH = 60
#: A header wider than this (character cells) wraps instead of widening its column.
HEADER_WIDTH = 12
HEADER_FILL = "#DDEBF7"
HEADER_BORDER = "#9BC2E6"

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WIDE_KINDS = ("W", "F")


def text_width(text: str) -> int:
    """Display width of ``text`` in character cells: East Asian wide (W) and full-width (F)
    characters count 2, every other character 1; the longest line of a multi-line text."""
    if "\n" in text:
        return max((text_width(line) for line in text.split("\n")), default=0)
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in _WIDE_KINDS else 1 for c in text)


def _max_width(texts: Sequence[str]) -> int:
    """The largest :func:`text_width` of ``texts``, looking only at texts long enough to matter
    (a text of n characters is at most 2n cells wide): fast on long columns."""
    if not texts:
        return 0
    ordered = sorted(set(texts), key=len, reverse=True)
    best = 0
    for t in ordered:
        if 2 * len(t) <= best:
            break
        best = max(best, text_width(t))
    return best


def infer_kind(name: object, series: pd.Series) -> Kind:
    """The kind of a column without a given one: booleans, integers, floats and datetimes by dtype;
    among floats, probabilities (``p_*``, ``*概率``) and ratios/shares (``*ratio*``, ``*share*``,
    ``*比例``, ``*占比``) as percentages; text columns named like a date (``as_of``, ``*_on``,
    ``*date*``, ``*日期``, ``*基准日``) whose values are ISO dates as dates."""
    label = str(name).lower()
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime" if (series.dropna().dt.normalize() != series.dropna()).any() else "date"
    if pd.api.types.is_numeric_dtype(dtype):
        if label.startswith("p_") or label.endswith("概率"):
            return "prob"
        if any(w in label for w in ("ratio", "share", "比例", "占比", "tolerance", "允许偏差")):
            return "percent"
        return "int" if pd.api.types.is_integer_dtype(dtype) else "float"
    values = series.dropna()
    if len(values) and values.map(lambda v: isinstance(v, bool)).all():
        return "bool"
    if len(values) and values.map(lambda v: isinstance(v, (dt.date, pd.Timestamp))).all():
        return "datetime" if values.map(lambda v: isinstance(v, dt.datetime)).any() else "date"
    datey = label in ("as_of", "date") or label.endswith(("_on", "_at", "_date", "_as_of", "日期", "基准日"))
    if datey and len(values) and values.map(lambda v: isinstance(v, str) and bool(_ISO_DATE.match(v))).all():
        return "date"
    return "text"


@dataclass
class Sheet:
    """One sheet: a frame, the kind of each column (``kinds``; the rest inferred), an optional
    title row above the header, page setup and layout. ``key_columns``: the first columns frozen
    beside the header and repeated on every printed page (e.g. code, name, grade). ``index``: write
    the frame's index as leading columns."""

    name: str
    frame: pd.DataFrame
    kinds: dict[str, str] | None = None
    title: str | None = None
    landscape: bool = True
    freeze: bool = True
    autofilter: bool = True
    key_columns: int = 0
    index: bool = False
    max_width: int = MAX_WIDTH
    widths: dict[str, float] = field(default_factory=dict)  # fixed widths by column name
    print_title: str | None = None  # the printed pages' header (default: the title, else the sheet's name)
    print_columns: int | None = None  # print only the first N columns (what officials read), one page wide

    def __repr__(self) -> str:
        return f"Sheet({self.name!r}, {len(self.frame)} rows x {len(self.frame.columns)} columns)"


def notes_sheet(items: Mapping[str, str], name: str = "说明", *, title: str | None = None) -> Sheet:
    """A 说明 sheet: one row per item (项目, 内容), the text wrapped in a wide column."""
    frame = pd.DataFrame(
        {"项目": [str(k) for k in items], "内容": ["" if v is None else str(v) for v in items.values()]}
    )
    return Sheet(
        name,
        frame,
        kinds={"项目": "text", "内容": "text"},
        title=title,
        landscape=False,
        autofilter=False,
        key_columns=1,
        max_width=90,
    )


# -- values -------------------------------------------------------------------------------------
def _missing(v: object) -> bool:
    if v is None or v is pd.NaT or v is pd.NA:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, np.floating) and bool(np.isnan(v))


def _as_datetime(v: object) -> dt.datetime | None:
    if _missing(v):
        return None
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        try:
            ts = pd.Timestamp(s)
        except (ValueError, TypeError):
            return None
    elif isinstance(v, (dt.date, pd.Timestamp, np.datetime64)):
        ts = pd.Timestamp(v)
    else:
        return None
    if ts is pd.NaT:
        return None
    if ts.tzinfo is not None:
        ts = ts.tz_convert(None)
    return cast(dt.datetime, ts.to_pydatetime())


def _as_number(v: object) -> float | None:
    if _missing(v) or isinstance(v, str):
        return None
    if isinstance(v, (bool, np.bool_)):
        return float(bool(v))
    try:
        x = float(cast(Any, v))
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _text(v: object) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "是" if v else "否"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _percent_format(values: list[float | None], decimals: int = 1) -> str:
    """``0%`` when every value is a whole percent (a 25% sampling ratio), else ``0.0%``."""
    known = [x for x in values if x is not None]
    if known and all(abs(100 * x - round(100 * x)) < 1e-9 for x in known):
        return "0%"
    return "0." + "0" * decimals + "%"


# -- the writer ---------------------------------------------------------------------------------
class _Formats:
    def __init__(self, book: Any):
        self.book = book
        self._cache: dict[tuple, Any] = {}

    def get(self, **props: Any) -> Any:
        key = tuple(sorted(props.items()))
        if key not in self._cache:
            self._cache[key] = self.book.add_format(props)
        return self._cache[key]


def _column_cells(kind: str, series: pd.Series) -> tuple[list[Any], str]:
    """The column's values as cells for its kind and the cell type: number, datetime or string;
    None for a blank."""
    raw = series.tolist()
    if kind in ("int", "float", "percent", "prob"):
        nums = [_as_number(v) for v in raw]
        if any(n is None and not _missing(v) for n, v in zip(nums, raw)):  # text in a number column
            return [None if _missing(v) else _text(v) for v in raw], "string"
        return nums, "number"
    if kind in ("date", "datetime"):
        dates = [_as_datetime(v) for v in raw]
        if any(d is None and not _missing(v) and str(v).strip() for d, v in zip(dates, raw)):
            return [None if _missing(v) else _text(v) for v in raw], "string"
        return dates, "datetime"
    return [None if _missing(v) else _text(v) for v in raw], "string"


def _inert_cells(cells: list[Any]) -> tuple[list[Any], set[int]]:
    """String cells without controls and with every ID-number-like token masked
    (:func:`scoring.core.privacy.scrub`: no raw ID number leaves in a workbook), and the rows whose
    text starts like a formula (quoted)."""
    clean: dict[str, str] = {}
    out: list[Any] = []
    dangerous: set[int] = set()
    for i, v in enumerate(cells):
        if v is None:
            out.append(None)
            continue
        t = clean.get(v)
        if t is None:
            t = clean[v] = scrub(v)
        if is_dangerous(v) or is_dangerous(t):
            dangerous.add(i)
        out.append(t)
    return out, dangerous


def _write_sheet(book: Any, fmt: _Formats, sheet: Sheet, used: set[str]) -> None:
    frame = sheet.frame.reset_index() if sheet.index else sheet.frame
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.copy()
        frame.columns = [" / ".join(str(x) for x in c) for c in frame.columns]
    name = strip_controls(str(sheet.name), newlines=False)
    for ch in "[]:*?/\\":
        name = name.replace(ch, "_")
    name = name.strip("'")[:31] or "Sheet"
    base, k = name, 2
    while name.lower() in used:
        name = f"{base[:28]}_{k}"
        k += 1
    used.add(name.lower())
    ws = book.add_worksheet(name)
    kinds = sheet.kinds or {}
    headers = [strip_controls(str(c)) for c in frame.columns]
    columns: list[tuple[list[Any], str, Any, Any, set[int]]] = []  # cells, type, format, quoted, dangerous rows
    header_row = 1 if sheet.title else 0
    top = header_row + 1
    n = len(frame)
    wrap_cols: list[int] = []
    for c, col in enumerate(frame.columns):
        kind = kinds.get(str(col)) or infer_kind(col, frame.iloc[:, c])
        if kind not in KINDS:
            raise DataError(f"sheet {sheet.name!r}, column {col!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
        cells, ctype = _column_cells(kind, frame.iloc[:, c])
        dangerous: set[int] = set()
        if ctype == "string":
            cells, dangerous = _inert_cells(cells)
        props: dict[str, Any] = {"valign": "top"}
        if ctype == "number":
            if kind in ("percent", "prob"):
                props["num_format"] = _percent_format(cells)
            elif kind == "int":
                props["num_format"] = "#,##0"
            elif kind == "float":
                known = [x for x in cells if x is not None]
                props["num_format"] = "#,##0" if known and all(x.is_integer() for x in known) else "#,##0.00"
            cell_w = max((len(f"{x:,.2f}") for x in cells if x is not None), default=0)
            if kind in ("percent", "prob"):
                cell_w = 7
        elif ctype == "datetime":
            props["num_format"] = "yyyy-mm-dd hh:mm:ss" if kind == "datetime" else "yyyy-mm-dd"
            cell_w = 19 if kind == "datetime" else 10
        else:
            if kind == "code":
                props["num_format"] = "@"
            cell_w = _max_width([t for t in cells if t is not None])
        head_w = min(text_width(headers[c]), HEADER_WIDTH)
        width = float(sheet.widths.get(str(col), min(max(cell_w, head_w, MIN_WIDTH - 2) + 2, sheet.max_width)))
        if ctype == "string" and cell_w + 2 > width:
            props["text_wrap"] = True
            wrap_cols.append(c)
        cell_fmt = fmt.get(**props)
        quoted = fmt.get(**props, quote_prefix=True)
        ws.set_column(c, c, width, cell_fmt)
        columns.append((cells, ctype, cell_fmt, quoted, dangerous))
    header_fmt = fmt.get(
        bold=True, bg_color=HEADER_FILL, border=1, border_color=HEADER_BORDER, text_wrap=True, valign="vcenter"
    )
    if sheet.title:
        title_fmt = fmt.get(bold=True, font_size=13)
        title_text = strip_controls(sheet.title, newlines=False)
        ws.write_string(
            0,
            0,
            title_text,
            fmt.get(bold=True, font_size=13, quote_prefix=True) if is_dangerous(title_text) else title_fmt,
        )
    header_quoted = fmt.get(
        bold=True,
        bg_color=HEADER_FILL,
        border=1,
        border_color=HEADER_BORDER,
        text_wrap=True,
        valign="vcenter",
        quote_prefix=True,
    )
    for c, (h, raw) in enumerate(zip(headers, frame.columns)):
        ws.write_string(header_row, c, h, header_quoted if is_dangerous(str(raw)) or is_dangerous(h) else header_fmt)
    for c, (cells, ctype, cell_fmt, quoted, dangerous) in enumerate(columns):
        _write_column(ws, c, top, cells, ctype, cell_fmt, quoted, dangerous)
    last_col = max(len(headers) - 1, 0)
    if sheet.freeze:
        ws.freeze_panes(top, min(sheet.key_columns, len(headers)))
    if sheet.autofilter and headers:
        ws.autofilter(header_row, 0, header_row + max(n, 1), last_col)
    # printing
    if sheet.landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)  # one page wide, as many pages tall as needed
    ws.repeat_rows(0, header_row)
    if sheet.key_columns:
        ws.repeat_columns(0, min(sheet.key_columns, len(headers)) - 1)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    page_title = strip_controls(sheet.print_title or sheet.title or name, newlines=False).replace("&", "&&")
    ws.set_header(f"&C{page_title[:200]}")
    ws.set_footer("&C第 &P 页，共 &N 页")
    printed = last_col if sheet.print_columns is None else max(min(sheet.print_columns, len(headers)) - 1, 0)
    ws.print_area(0, 0, header_row + max(n, 1), printed)


def _write_column(
    ws: Any, c: int, top: int, cells: list[Any], ctype: str, cell_fmt: Any, quoted: Any, dangerous: set[int]
) -> None:
    """Write one column's cells (xlsxwriter keeps every cell until the book closes, so writing
    column by column is as good as row by row)."""
    write = {"number": ws.write_number, "datetime": ws.write_datetime, "string": ws.write_string}[ctype]
    blank = ws.write_blank
    for r, v in enumerate(cells):
        if v is None:
            blank(top + r, c, None, cell_fmt)
        elif r in dangerous:
            write(top + r, c, v, quoted)
        else:
            write(top + r, c, v, cell_fmt)


def write_workbook(target: str | Path | io.BytesIO, sheets: Sequence[Sheet]) -> None:
    """Write ``sheets`` as one .xlsx to a path (parents created) or a binary buffer."""
    import xlsxwriter

    if not sheets:
        raise DataError("a workbook needs at least one sheet")
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    if isinstance(target, io.BytesIO):
        book = xlsxwriter.Workbook(target, {**options, "in_memory": True})
    else:
        p = Path(target)
        p.parent.mkdir(parents=True, exist_ok=True)
        book = xlsxwriter.Workbook(str(p), options)
    fmt = _Formats(book)
    used: set[str] = set()
    try:
        for s in sheets:
            _write_sheet(book, fmt, s, used)
    finally:
        book.close()


def workbook_bytes(sheets: Sequence[Sheet]) -> bytes:
    """The workbook of ``sheets`` as bytes (a download)."""
    buf = io.BytesIO()
    write_workbook(buf, sheets)
    return buf.getvalue()


def write_xlsx(sheets: pd.DataFrame | Mapping[str, pd.DataFrame], path: str | Path, *, index: bool = False) -> Path:
    """Write one frame (sheet ``Sheet1``) or several named frames as an inert .xlsx, laid out by
    this module's writer (widths, formats, frozen header)."""
    frames = {"Sheet1": sheets} if isinstance(sheets, pd.DataFrame) else dict(sheets)
    write_workbook(Path(path), [Sheet(name, df, index=index) for name, df in frames.items()])
    return Path(path)
