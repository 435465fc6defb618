"""Quarantine reason codes (隔离原因) and the description of one input file.

Shared by ingestion (which assigns the reasons) and the data quality report (which explains them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: Reasons given while a file is read, before any check (both tables).
REASONS_READ = ("RAGGED_ROW", "UNDECODABLE_ROW", "FORMULA_NO_VALUE")
REASONS_SUBJECTS = (
    *REASONS_READ,
    "MISSING_REQUIRED",
    "BAD_SUBJECT_TYPE",
    "BAD_USCC",
    "BAD_ID_NUMBER",
    "BAD_REGION",
    "BAD_INDUSTRY",
    "BAD_DATE",
    "DATE_AFTER_EXPORT",
    "BAD_LINK",
    "BAD_VALUE",
    "DUPLICATE_EXACT",
    "DUPLICATE_SUBJECT",
)
REASONS_RECORDS = (
    *REASONS_READ,
    "MISSING_REQUIRED",
    "UNKNOWN_RECORD_TYPE",
    "UNKNOWN_SUBJECT",
    "TYPE_NOT_ALLOWED",
    "BAD_DATE",
    "DATE_AFTER_EXPORT",
    "EVENT_BEFORE_REGISTRATION",
    "BAD_SEVERITY",
    "BAD_AMOUNT",
    "BAD_GRADE",
    "BAD_STATUS",
    "DUPLICATE_EXACT",
    "DUPLICATE_RECORD_ID",
    "DUPLICATE_DOCUMENT",
)
#: Every reason code with its meaning (shown in reports and docs).
REASON_TEXT = {
    "RAGGED_ROW": "a CSV row has more or fewer fields than the header (the detail gives its line number)",
    "UNDECODABLE_ROW": "a CSV row holds bytes that are not text in the file's encoding (line number in the detail)",
    "FORMULA_NO_VALUE": "a spreadsheet cell holds a formula without a saved value, or an error value (#DIV/0!, #N/A)",
    "MISSING_REQUIRED": "a required field is empty",
    "BAD_SUBJECT_TYPE": "subject type is not one of the six archive subject types",
    "BAD_USCC": "USCC fails GB 32100 (length, characters or check characters) and is not allow-listed",
    "BAD_ID_NUMBER": "ID number fails GB 11643 (length, characters, birth date or check character)",
    "BAD_REGION": "region code is not a 6-digit GB/T 2260 code",
    "BAD_INDUSTRY": "industry code is not a 4-digit GB/T 4754 class (or given for a person)",
    "BAD_DATE": "a date is not YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD or YYYY年M月D日, is no calendar date, or is before 1900",
    "DATE_AFTER_EXPORT": "a date is after the archive's export date",
    "BAD_LINK": "a legal representative / actual controller is not a valid ID number, or is set on a person",
    "BAD_VALUE": "a value is outside its allowed set, or holds a control character (NUL, ESC, ...)",
    "DUPLICATE_EXACT": "the same row appears earlier in this ingest",
    "DUPLICATE_SUBJECT": "the same subject id appears earlier in this ingest with different values",
    "UNKNOWN_RECORD_TYPE": "record type is not in the catalogue",
    "UNKNOWN_SUBJECT": "the subject is not in the archive",
    "TYPE_NOT_ALLOWED": "the record type does not apply to this subject type",
    "EVENT_BEFORE_REGISTRATION": "the event is dated before the subject's registration",
    "BAD_SEVERITY": "severity is missing, unknown or not allowed for the record type",
    "BAD_AMOUNT": "amount is not a non-negative number, or missing where required",
    "BAD_GRADE": "grade is not one of the record type's grades",
    "BAD_STATUS": "status dates or outcome are inconsistent (e.g. resolved before raised)",
    "DUPLICATE_RECORD_ID": "the same record id appears earlier in this ingest with different values",
    "DUPLICATE_DOCUMENT": "another record of the same subject and type already has this document number",
}

#: Warnings (预警): the row is accepted and stored as given, the rule named applies when it is used.
WARNING_TEXT = {
    "REPAIR_BEFORE_MIN_PERIOD": "a repair (信用修复) is dated before the end of the record's minimum publicity period "
    "under its regime; the record counts until that end, then stops",
    "LINK_SINCE_ADJUSTED": "a legal representative / actual controller start date lies before what the archive "
    "already holds (the previous export, or the current link's start); the change is dated at the earliest day "
    "that does not rewrite the past",
}


@dataclass
class SourceFile:
    """One table read from an input: a CSV or Parquet file, or one sheet of a workbook."""

    path: Path
    kind: str  # csv | parquet | excel
    table: str  # subjects | records
    sha256: str  # of the file (a sheet: of the file and the sheet's name)
    columns: list[str]  # archive column names present
    dropped_forbidden: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    sheet: str | None = None  # the sheet of a workbook
    encoding: str | None = None  # a CSV's text encoding
    delimiter: str = ","
    headers: list[str] = field(default_factory=list)  # the file's own headers, in order
    header_row: int = 0  # a sheet: 0-based index of its header row
    file_sha256: str = ""  # of the whole file
    show_sheet: bool = False  # a workbook with several tables: lineage names the sheet

    @property
    def label(self) -> str:
        """The file (and sheet) as named in lineage, the quarantine and reports."""
        return f"{self.path}#{self.sheet}" if self.sheet is not None and self.show_sheet else str(self.path)
