"""Reading credit-archive files (读取): every row of every table of every input, as text.

* :func:`expand_inputs` turns the paths given into files, reading a folder's ``manifest.json`` and
  skipping (and listing) stray files: Excel lock files ``~$*``, macOS ``._*``, hidden files,
  readme/notes and anything that is not CSV, Parquet or Excel;
* :func:`describe` tells which archive table a file holds, from its headers; a workbook gives one
  :class:`~scoring.archive.reasons.SourceFile` per recognised sheet and lists the other sheets;
* :func:`chunks` streams a source as text tables named by the archive format, with a read issue
  for each row that could not be read whole (a ragged or undecodable CSV row with its line number,
  a formula cell without a saved value) so that the row is quarantined and the rest loads.

CSV text may be UTF-8 (with or without BOM), GB18030/GBK (detected when no line reads as UTF-8)
or UTF-16 with a BOM (Excel's "Unicode text", tab-separated); ``encoding=`` chooses one.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import hashlib
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from scoring.archive import schema as archive
from scoring.archive.reasons import SourceFile
from scoring.core import lawful
from scoring.core.errors import InputFileError
from scoring.core.privacy import scrub

SEP = "\x1f"
BATCH_ROWS = 1_000_000
CSV_BATCH_ROWS = 200_000
SUPPORTED = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel", ".xls": "excel"}
#: Suffixes read from a folder (a .txt in a folder is a readme or notes, not data).
FOLDER_SUFFIXES = {".csv", ".parquet", ".pq", ".xlsx", ".xls"}
#: A sheet may span at most this many cells (rows x columns of its used range) before it is read.
MAX_SHEET_CELLS = 20_000_000
#: Uncompressed size limit of one workbook (zip bombs).
MAX_WORKBOOK_BYTES = 4 << 30
CSV_FIELD_LIMIT = 16 << 20
#: A sheet's XML is scanned in pieces of this size.
SCAN_CHUNK = 16 << 20


def _say(path: object) -> str:
    """A path or value as shown in a message (controls stripped, ID numbers masked)."""
    return scrub(str(path), newlines=False)


@dataclass
class Inputs:
    """The files one ingest reads, and what it skipped."""

    files: list[Path]
    export_date: dt.date | None
    skipped: list[dict[str, str]] = field(default_factory=list)


def stray_reason(path: Path) -> str | None:
    """Why a file found in a folder is not archive data (None: it is read)."""
    name = path.name
    low = name.lower()
    if name.startswith("~$"):
        return "Excel lock file (~$...)"
    if name.startswith("._"):
        return "macOS resource fork (._...)"
    if name.startswith("."):
        return "hidden file"
    if low in ("thumbs.db", "desktop.ini"):
        return "system file"
    if low.startswith(("readme", "notes", "read_me", "说明")) or path.suffix.lower() in (".md", ".txt", ".rst"):
        return "readme or notes"
    if path.suffix.lower() not in FOLDER_SUFFIXES:
        return f"not a CSV, Parquet or Excel file ({path.suffix or 'no suffix'})"
    return None


def _manifest_date(manifest: Path) -> dt.date:
    try:
        data = json.loads(manifest.read_bytes().decode("utf-8-sig"))
        return dt.date.fromisoformat(str(data["export_date"]))
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{_say(manifest)}: no valid export_date ({_say(exc)})") from None
    except OSError as exc:
        raise InputFileError(f"{_say(manifest)}: cannot read: {exc.strerror}") from None


def expand_inputs(paths: Iterable[str | Path]) -> Inputs:
    """Expand folders to the archive files directly inside them; read a manifest's export date;
    skip and list stray files."""
    out = Inputs([], None)
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            manifest = p / "manifest.json"
            if manifest.is_file():
                out.export_date = _manifest_date(manifest)
            found = []
            for f in sorted(p.iterdir()):
                if f == manifest:
                    continue
                if f.is_dir():
                    out.skipped.append({"path": str(f), "reason": "folder (not read; give it explicitly)"})
                    continue
                why = stray_reason(f)
                if why is None:
                    found.append(f)
                else:
                    out.skipped.append({"path": str(f), "reason": why})
            if not found:
                raise InputFileError(f"{_say(p)}: folder holds no CSV, Parquet or Excel file")
            out.files.extend(found)
        elif p.is_file():
            why = stray_reason(p)
            if why is not None and (p.name.startswith(("~$", "._"))):
                out.skipped.append({"path": str(p), "reason": why})
                continue
            out.files.append(p)
        elif p.exists():
            raise InputFileError(f"{_say(p)}: not a regular file")
        else:
            raise InputFileError(f"{_say(p)}: file not found")
    if not out.files:
        raise InputFileError(
            "no archive file to read: " + "; ".join(f"{_say(s['path'])} ({s['reason']})" for s in out.skipped)
        )
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def clean_header(h: object) -> str:
    """A header as compared with the archive format: NFKC, BOM/controls and outer spaces removed."""
    s = unicodedata.normalize("NFKC", "" if h is None else str(h))
    s = "".join(c for c in s if unicodedata.category(c) not in ("Cc", "Cf"))
    return s.strip()


# -- CSV text ---------------------------------------------------------------------------------
def _codec(name: str, path: Path) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise InputFileError(f"{_say(path)}: unknown text encoding {name!r} (try utf-8, gb18030 or utf-16)") from None


def detect_encoding(path: Path, requested: str | None = None) -> str:
    """The text encoding of a CSV: ``requested``, else a BOM (UTF-8 / UTF-16), else UTF-8 when any
    line with non-ASCII text reads as UTF-8, else GB18030 (GBK's superset) when the whole file
    reads as GB18030. A file that is mostly UTF-8 with a few broken lines stays UTF-8 (those rows
    are quarantined as UNDECODABLE_ROW)."""
    if requested:
        enc = _codec(requested, path)
        if enc == "utf-8":
            with open(path, "rb") as f:
                if f.read(3) == codecs.BOM_UTF8:
                    return "utf-8-sig"
        return enc
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf8_ok = utf8_bad = 0
    dec = codecs.getincrementaldecoder("utf-8")()
    clean = True
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            try:
                dec.decode(chunk)
            except UnicodeDecodeError:
                clean = False
                break
        if clean:
            try:
                dec.decode(b"", final=True)
            except UnicodeDecodeError:
                clean = False
    if clean:
        return "utf-8"
    with open(path, "rb") as f:
        for line in f:
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                utf8_ok += 1
            except UnicodeDecodeError:
                utf8_bad += 1
            if utf8_ok:
                return "utf-8"
    try:
        with open(path, encoding="gb18030", newline="") as f:
            for _ in iter(lambda: f.read(1 << 22), ""):
                pass
        return "gb18030"
    except UnicodeDecodeError:
        return "utf-8"


def _header_line(path: Path, encoding: str) -> list[str]:
    with open(path, encoding=encoding, errors="surrogateescape", newline="") as f:
        sample = f.read(1 << 16)
    if not sample.strip():
        raise InputFileError(f"{_say(path)}: the file is empty (no header row)")
    first = sample.splitlines()[0] if sample.splitlines() else ""
    delim = "\t" if ("\t" in first and "," not in first) else ","
    row = next(csv.reader(io.StringIO(sample), delimiter=delim), [])
    if any("\udc80" <= c <= "\udcff" for h in row for c in h):
        raise InputFileError(
            f"{_say(path)}: the header row is not text in {encoding}; save the CSV as UTF-8 "
            "(or give the encoding: --encoding gb18030)"
        )
    if "\x00" in first:
        raise InputFileError(f"{_say(path)}: not UTF-8 text (NUL bytes); save the CSV as UTF-8 or give its encoding")
    return [delim, *row]


# -- Excel --------------------------------------------------------------------------------------
_CELL_REF = re.compile(rb"<(?:\w+:)?c\b[^>]*?\br=\"([A-Z]{1,3})([0-9]{1,7})\"")
_DIMENSION = re.compile(
    rb"<(?:\w+:)?dimension\b[^>]*?\bref=\"([A-Z]{1,3})?([0-9]{1,7})?(?::([A-Z]{1,3})([0-9]{1,7}))?\""
)
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_HAS_VALUE = re.compile(rb"<(?:\w+:)?(?:v|is)\b[^>]*>\s*[^<\s]", re.S)
_ATTR_R = re.compile(rb"\br=\"([A-Z]{1,3})([0-9]{1,7})\"")
_ATTR_T_ERROR = re.compile(rb"\bt=\"e\"")
_ROW_END = re.compile(rb"</(?:\w+:)?row>")


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n - 1


def _sheet_xml_paths(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its XML part, from xl/workbook.xml and its relationships."""
    wb = z.read("xl/workbook.xml")
    rels = z.read("xl/_rels/workbook.xml.rels")
    targets = {
        m.group(1).decode(): m.group(2).decode()
        for m in re.finditer(rb"<(?:\w+:)?Relationship\b[^>]*?\bId=\"([^\"]+)\"[^>]*?\bTarget=\"([^\"]+)\"", rels)
    }
    targets |= {
        m.group(2).decode(): m.group(1).decode()
        for m in re.finditer(rb"<(?:\w+:)?Relationship\b[^>]*?\bTarget=\"([^\"]+)\"[^>]*?\bId=\"([^\"]+)\"", rels)
    }
    out = {}
    for m in re.finditer(rb"<(?:\w+:)?sheet\b([^>]*)/?>", wb):
        attrs = m.group(1)
        name = re.search(rb"\bname=\"([^\"]*)\"", attrs)
        rid = re.search(rb"\br:id=\"([^\"]*)\"", attrs) or re.search(rb"\b\w+:id=\"([^\"]*)\"", attrs)
        if name and rid and rid.group(1).decode() in targets:
            t = targets[rid.group(1).decode()]
            part = t.lstrip("/") if t.startswith("/") else "xl/" + t
            import html

            out[html.unescape(name.group(1).decode("utf-8"))] = part
    return out


@dataclass
class SheetScan:
    """What a workbook sheet holds, found from its XML before it is read."""

    rows: int  # extent of the used range
    cols: int
    cells: int
    bad_cells: dict[tuple[int, int], str]  # (row, col) 0-based -> "formula" | "error"


def _dimension(head: bytes) -> tuple[int, int]:
    dim = _DIMENSION.search(head)
    if dim and dim.group(4):
        return int(dim.group(4)), _col_index(dim.group(3)) + 1
    if dim and dim.group(2):
        return int(dim.group(2)), _col_index(dim.group(1) or b"A") + 1
    return 0, 0


def _scan_cells(xml: bytes, n: int, max_r: int, max_c: int, bad: dict[tuple[int, int], str]) -> tuple[int, int, int]:
    for m in _CELL_REF.finditer(xml):
        n += 1
        max_r = max(max_r, int(m.group(2)))
        max_c = max(max_c, _col_index(m.group(1)) + 1)
    if b"<f" in xml or b't="e"' in xml or b":f" in xml:
        for m in _CELL.finditer(xml):
            attrs, body = m.group(1), m.group(2) or b""
            is_error = bool(_ATTR_T_ERROR.search(attrs))
            has_formula = b"<f" in body or b":f" in body
            if not (is_error or (has_formula and not _HAS_VALUE.search(body))):
                continue
            r = _ATTR_R.search(attrs)
            if r:
                bad[(int(r.group(2)) - 1, _col_index(r.group(1)))] = "error" if is_error else "formula"
    return n, max_r, max_c


def _check_extent(path: Path, name: str, max_r: int, max_c: int, n: int) -> None:
    if max_r * max_c > MAX_SHEET_CELLS:
        raise InputFileError(
            f"{_say(path)}: sheet {_say(name)!r} spans {max_r:,} rows x {max_c:,} columns "
            f"({max_r * max_c:,} cells) though it holds {n:,} cells; delete the stray cells far "
            f"outside the table (Ctrl+End shows the last one) and save again"
        )


def scan_workbook(path: Path) -> dict[str, SheetScan]:
    """Check every sheet's dimensions before any is read (a single cell at XFD1048576 would make
    the reader allocate the whole range) and find formula cells without a saved value."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFileError(f"{_say(path)}: not an Excel .xlsx workbook ({exc})") from None
    with z:
        total = sum(i.file_size for i in z.infolist())
        if total > MAX_WORKBOOK_BYTES:
            raise InputFileError(
                f"{_say(path)}: the workbook unpacks to {total / 2**30:.1f} GB; split it or save it as CSV"
            )
        try:
            parts = _sheet_xml_paths(z)
        except KeyError as exc:
            raise InputFileError(f"{_say(path)}: not an Excel workbook ({exc} missing)") from None
        out = {}
        for name, part in parts.items():
            try:
                stream = z.open(part)
            except KeyError:
                continue
            max_r = max_c = n = 0
            bad: dict[tuple[int, int], str] = {}
            first = True
            rest = b""
            with stream:
                # streamed in pieces cut after a row's end tag: the XML is never held whole
                for piece in iter(functools.partial(stream.read, SCAN_CHUNK), b""):
                    buf = rest + piece
                    ends = list(_ROW_END.finditer(buf, max(0, len(buf) - (1 << 20))))
                    if not ends:
                        rest = buf
                        continue
                    cut = ends[-1].end()
                    done, rest = buf[:cut], buf[cut:]
                    if first:
                        max_r, max_c = _dimension(done[:4096])
                        first = False
                    n, max_r, max_c = _scan_cells(done, n, max_r, max_c, bad)
                    _check_extent(path, name, max_r, max_c, n)
                if rest:
                    if first:
                        max_r, max_c = _dimension(rest[:4096])
                    n, max_r, max_c = _scan_cells(rest, n, max_r, max_c, bad)
            _check_extent(path, name, max_r, max_c, n)
            out[name] = SheetScan(max_r, max_c, n, bad)
        return out


def _cell_ref(row: int, col: int) -> str:
    letters = ""
    c = col + 1
    while c:
        c, rem = divmod(c - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


def _cell_text(v: object) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _open_workbook(path: Path) -> Any:
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for broken files
        raise InputFileError(f"{_say(path)}: cannot read as Excel: {_say(exc)}") from None


_ROWS_CACHE: dict[tuple[str, str], list[list[object]]] = {}
_SCAN_CACHE: dict[str, dict[str, SheetScan]] = {}


def _sheet_rows(path: Path, sheet: str, keep: bool = False) -> list[list[object]]:
    """A sheet's cells; ``keep``: hold them for the next call (describe, then read)."""
    cached = _ROWS_CACHE.pop((str(path), sheet), None)
    if cached is not None:
        return cached
    wb = _open_workbook(path)
    try:
        rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except Exception as exc:
        raise InputFileError(f"{_say(path)}: sheet {_say(sheet)!r} cannot be read: {_say(exc)}") from None
    if keep:
        _ROWS_CACHE[(str(path), sheet)] = rows
    return rows


def _first_row(rows: list[list[object]]) -> int | None:
    for i, r in enumerate(rows):
        if any(v not in (None, "") for v in r):
            return i
    return None


# -- describing ---------------------------------------------------------------------------------
@dataclass
class Described:
    """The sources found in one file, and the sheets of a workbook that hold no archive table."""

    sources: list[SourceFile]
    other_sheets: list[dict[str, object]] = field(default_factory=list)


def _map_columns(path: Path, table: str, headers: list[str], where: str) -> tuple[list[str], list[str], list[str]]:
    hmap = archive.header_map(table)
    lower = {k.lower(): v for k, v in hmap.items()}
    columns: list[str] = []
    given: dict[str, str] = {}
    dropped, ignored = [], []
    for h in headers:
        name = hmap.get(h) or lower.get(h.lower())
        if name is not None:
            if name in given:
                raise InputFileError(
                    f"{_say(path)}{where}: columns {_say(given[name])!r} and {_say(h)!r} both give "
                    f"{name}; keep one of them"
                )
            given[name] = h
            columns.append(name)
        elif lawful.screen(h, kinds=("forbidden",)):
            dropped.append(h)
        else:
            ignored.append(h)
    missing = [c for c in archive.required_columns(table) if c not in columns]
    if missing:
        raise InputFileError(f"{_say(path)}{where}: {table} file lacks required column(s): {', '.join(missing)}")
    return columns, dropped, ignored


def _table_of(headers: list[str]) -> str | None:
    return archive.detect_table(headers) or archive.detect_table([h.lower() for h in headers])


def describe(path: Path, encoding: str | None = None) -> Described:
    """Identify a file's format and table(s), and check the header rows."""
    kind = SUPPORTED.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(f"{_say(path)}: unsupported file type {path.suffix!r}; use CSV, Parquet or Excel")
    try:
        sha = sha256_file(path)
    except OSError as exc:
        raise InputFileError(f"{_say(path)}: cannot read: {exc.strerror}") from None
    if kind == "excel":
        return _describe_workbook(path, sha)
    enc = None
    delim = ","
    try:
        if kind == "csv":
            enc = detect_encoding(path, encoding)
            delim, *raw_headers = _header_line(path, enc)
        else:
            raw_headers = [str(n) for n in pq.ParquetFile(path).schema_arrow.names]
    except InputFileError:
        raise
    except UnicodeError as exc:
        raise InputFileError(f"{_say(path)}: not text in {enc} ({exc}); save the CSV as UTF-8") from None
    except Exception as exc:
        raise InputFileError(f"{_say(path)}: cannot read as {kind}: {_say(exc)}") from None
    headers = [clean_header(h) for h in raw_headers]
    table = _table_of(headers)
    if table is None:
        raise InputFileError(
            f"{_say(path)}: cannot tell which archive table this is: a records file needs a 'record_type' "
            f"column, a subjects file a 'subject_type' column (found: {_say(', '.join(headers))})"
        )
    columns, dropped, ignored = _map_columns(path, table, headers, "")
    src = SourceFile(
        path,
        kind,
        table,
        sha,
        columns,
        dropped,
        ignored,
        encoding=enc,
        delimiter=delim,
        headers=raw_headers,
        file_sha256=sha,
    )
    return Described([src])


def _describe_workbook(path: Path, sha: str) -> Described:
    scans = scan_workbook(path) if path.suffix.lower() == ".xlsx" else {}
    _SCAN_CACHE[sha] = scans
    wb = _open_workbook(path)
    sources: list[SourceFile] = []
    other: list[dict[str, object]] = []
    for name in wb.sheet_names:
        scan = scans.get(name)
        if scan is not None and scan.cells == 0:
            other.append({"path": str(path), "sheet": name, "rows": 0, "reason": "empty sheet"})
            continue
        rows = _sheet_rows(path, name, keep=True)
        first = _first_row(rows)
        if first is None:
            other.append({"path": str(path), "sheet": name, "rows": 0, "reason": "empty sheet"})
            continue
        raw_headers = ["" if v is None else str(v) for v in rows[first]]
        headers = [clean_header(h) for h in raw_headers]
        table = _table_of(headers)
        n_rows = sum(1 for r in rows[first + 1 :] if any(v not in (None, "") for v in r))
        if table is None:
            _ROWS_CACHE.pop((str(path), name), None)
            other.append(
                {
                    "path": str(path),
                    "sheet": name,
                    "rows": n_rows,
                    "reason": "no archive table recognised from its headers (not read)",
                }
            )
            continue
        where = f" sheet {name!r}"
        columns, dropped, ignored = _map_columns(path, table, headers, where)
        part_sha = hashlib.sha256(f"{sha}:{name}".encode()).hexdigest()
        sources.append(
            SourceFile(
                path,
                "excel",
                table,
                part_sha,
                columns,
                dropped,
                [h for h in ignored if h],
                sheet=name,
                headers=raw_headers,
                header_row=first,
                file_sha256=sha,
            )
        )
    if not sources:
        raise InputFileError(
            f"{_say(path)}: no sheet holds an archive table: a records sheet needs a 'record_type' column, "
            f"a subjects sheet a 'subject_type' column (sheets: {_say(', '.join(wb.sheet_names))})"
        )
    if len(sources) > 1 or other:
        for s in sources:
            s.show_sheet = len(sources) > 1
    return Described(sources, other)


# -- streaming ------------------------------------------------------------------------------------
@dataclass
class Chunk:
    """Rows of one source as text columns named by the archive format; ``issues`` (one per row,
    ``reason SEP field SEP detail`` or None) are problems found while reading."""

    table: pa.Table
    issues: list[str | None] | None = None


def _issue(reason: str, fld: str, detail: str) -> str:
    return f"{reason}{SEP}{fld}{SEP}{detail}"


def _to_text(col: pa.ChunkedArray, src: SourceFile, name: str) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return col.cast(pa.string())
    if pa.types.is_nested(t):
        raise InputFileError(
            f"{_say(src.path)}: column {_say(name)!r} holds {t} values; archive columns must be text, numbers "
            f"or dates (flatten it before export)"
        )
    if pa.types.is_timestamp(t):
        col = col.cast(pa.date32())
    try:
        return col.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputFileError(f"{_say(src.path)}: column {_say(name)!r} ({t}) cannot be read as text: {exc}") from None


def _rename(src: SourceFile, raw: pa.Table) -> pa.Table:
    hmap = archive.header_map(src.table)
    lower = {k.lower(): v for k, v in hmap.items()}
    cols: dict[str, pa.ChunkedArray] = {}
    for name in raw.column_names:
        h = clean_header(name)
        target = hmap.get(h) or lower.get(h.lower())
        if target is not None:
            cols[target] = _to_text(raw.column(name), src, name)
    return pa.table(cols) if cols else pa.table({"_": pa.nulls(raw.num_rows, pa.string())})


def _csv_fast(src: SourceFile) -> Iterator[Chunk]:
    """pyarrow's streaming reader: for clean UTF-8 comma-separated files."""
    assert src.encoding is not None
    names = [f"c{i}" for i in range(len(src.headers))]
    opts = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False
    )
    reader = pacsv.open_csv(
        src.path,
        read_options=pacsv.ReadOptions(block_size=1 << 24, encoding="utf8", skip_rows=1, column_names=names),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=opts,
    )
    for batch in reader:
        t = pa.Table.from_batches([batch])
        yield Chunk(_rename(src, t.rename_columns(src.headers)))


def _csv_exact(src: SourceFile) -> Iterator[Chunk]:
    """Python's csv reader: any encoding, quoted newlines, and a read issue with the line number
    for each ragged or undecodable row (the rest of the file loads)."""
    assert src.encoding is not None
    csv.field_size_limit(CSV_FIELD_LIMIT)
    n = len(src.headers)
    keep = [(i, h) for i, h in enumerate(src.headers)]
    errors = "replace" if src.encoding.startswith("utf-16") else "surrogateescape"
    with open(src.path, encoding=src.encoding, errors=errors, newline="") as f:
        reader = csv.reader(f, delimiter=src.delimiter)
        try:
            next(reader)
        except StopIteration:
            return
        rows: list[list[str]] = []
        issues: list[str | None] = []
        start = reader.line_num + 1
        try:
            for rec in reader:
                line = start
                start = reader.line_num + 1
                if not rec or (len(rec) == 1 and rec[0] == ""):
                    continue
                issue = None
                if any("\udc80" <= c <= "\udcff" for v in rec for c in v):
                    issue = _issue(
                        "UNDECODABLE_ROW",
                        "*",
                        f"line {line}: bytes that are not {src.encoding} text",
                    )
                    rec = [v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for v in rec]
                elif len(rec) != n:
                    issue = _issue("RAGGED_ROW", "*", f"line {line}: {len(rec)} fields, the header has {n}")
                rows.append([rec[i] if i < len(rec) else "" for i, _ in keep])
                issues.append(issue)
                if len(rows) >= CSV_BATCH_ROWS:
                    yield _csv_chunk(src, rows, issues)
                    rows, issues = [], []
        except csv.Error as exc:
            raise InputFileError(f"{_say(src.path)}: line {reader.line_num}: {exc}") from None
        if rows:
            yield _csv_chunk(src, rows, issues)


def _csv_chunk(src: SourceFile, rows: list[list[str]], issues: list[str | None]) -> Chunk:
    cols = {f"c{i}": pa.array([r[i] for r in rows], type=pa.string()) for i in range(len(src.headers))}
    t = pa.table(cols).rename_columns(src.headers)
    return Chunk(_rename(src, t), issues if any(issues) else None)


def csv_is_fast(src: SourceFile) -> bool:
    return src.encoding in ("utf-8", "utf-8-sig") and src.delimiter == ","


def chunks(src: SourceFile, exact: bool = False) -> Iterator[Chunk]:
    """Stream a source as :class:`Chunk` s. A CSV is read by the fast reader unless ``exact``
    (the caller re-reads with ``exact=True`` when the fast reader fails)."""
    try:
        if src.kind == "csv":
            yield from (_csv_exact(src) if exact or not csv_is_fast(src) else _csv_fast(src))
        elif src.kind == "parquet":
            pf = pq.ParquetFile(src.path)
            hmap = archive.header_map(src.table)
            lower = {k.lower(): v for k, v in hmap.items()}
            wanted = [
                n for n in pf.schema_arrow.names if (hmap.get(clean_header(n)) or lower.get(clean_header(n).lower()))
            ]
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
                yield Chunk(_rename(src, pa.Table.from_batches([batch])))
        else:
            yield _sheet_chunk(src)
    except InputFileError:
        raise
    except (pa.ArrowInvalid, UnicodeError) as exc:
        if src.kind == "csv" and not exact:
            raise FastReaderFailed(str(exc)) from None
        raise InputFileError(f"{_say(src.path)}: cannot read as {src.kind}: {_say(exc)}") from None
    except OSError as exc:
        raise InputFileError(f"{_say(src.path)}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:
        raise InputFileError(f"{_say(src.path)}: cannot read as {src.kind}: {_say(exc)}") from None


def clear_caches() -> None:
    """Forget the sheets held between describing and reading (end of an ingest)."""
    _ROWS_CACHE.clear()
    _SCAN_CACHE.clear()


class FastReaderFailed(Exception):
    """The fast CSV reader met something only the exact reader handles (internal)."""


def _sheet_chunk(src: SourceFile) -> Chunk:
    assert src.sheet is not None
    rows = _sheet_rows(src.path, src.sheet)
    scans = _SCAN_CACHE.get(src.file_sha256)
    if scans is None:
        scans = scan_workbook(src.path) if src.path.suffix.lower() == ".xlsx" else {}
    scan = scans.get(src.sheet)
    bad = scan.bad_cells if scan is not None else {}
    hmap = archive.header_map(src.table)
    lower = {k.lower(): v for k, v in hmap.items()}
    targets: list[tuple[int, str]] = []
    for i, h in enumerate(src.headers):
        name = hmap.get(clean_header(h)) or lower.get(clean_header(h).lower())
        if name is not None:
            targets.append((i, name))
    data: dict[str, list[str | None]] = {name: [] for _, name in targets}
    issues: list[str | None] = []
    for r_idx in range(src.header_row + 1, len(rows)):
        r = rows[r_idx]
        if not any(v not in (None, "") for v in r) and not any((r_idx, i) in bad for i, _ in targets):
            continue
        issue = None
        for i, name in targets:
            v = r[i] if i < len(r) else None
            kind = bad.get((r_idx, i))
            if kind is not None and issue is None:
                what = "an error value" if kind == "error" else "a formula without a saved value"
                issue = _issue(
                    "FORMULA_NO_VALUE",
                    name,
                    f"cell {_cell_ref(r_idx, i)} holds {what}; open the file in Excel, recalculate and save "
                    f"(or paste values)",
                )
            data[name].append(_cell_text(v))
        issues.append(issue)
    table = pa.table({k: pa.array(v, type=pa.string()) for k, v in data.items()})
    return Chunk(table, issues if any(issues) else None)
