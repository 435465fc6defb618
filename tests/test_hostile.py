"""Hostile input (issue 13): every file read whole, nothing lost, nothing leaked, nothing executed.

Each case builds the files a platform really receives (in a tmp dir, never committed) and asserts
either accepted/quarantined counts with the right reason, or a clear XinyiError with the store
unchanged; the count of rows lost is always 0. Raw ID numbers are looked for with an independent
scanner (python-stdnum's GB 11643 check digit, not scoring.core.identifiers).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import re
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import EXPORT, make_person_id, make_uscc, penalty, small_archive
from stdnum.cn import ric

from scoring.archive.catalog import load_catalog
from scoring.archive.ingest import ingest
from scoring.archive.quality import quarantine_listing
from scoring.archive.store import open_store, scratch_path
from scoring.core.config import config_dir
from scoring.core.errors import ConfigError, DataError, InputFileError
from scoring.core.identifiers import normalise_id
from scoring.core.inert import InertWorkbook, inert_text, write_csv
from scoring.core.privacy import scrub
from scoring.core.workbook import write_xlsx

SUBJECTS, ORGS, PERSONS = small_archive(3, 3)
RECORD_COLUMNS = list(penalty("x", "y"))


# -- an independent raw-ID scanner ----------------------------------------------------------------
def raw_ids(text: str) -> list[str]:
    """Every valid GB 11643 number in ``text``: full-width digits folded, separators (space, tab,
    hyphen, controls) between digits removed, then every 18-character window checked by stdnum."""
    t = unicodedata.normalize("NFKC", text)
    t = re.sub(r"(?<=\d)[\s\-\x00-\x1f\u00a0\u3000]+(?=[\dXx])", "", t)
    found = []
    for run in re.finditer(r"[\dXx]{18,}", t):
        s = run.group(0).upper()
        for i in range(len(s) - 17):
            w = s[i : i + 18]
            if w[:17].isdigit() and ric.calc_check_digit(w) == w[17]:  # stdnum: the GB 11643 check
                found.append(w)
    return found


def test_scanner_finds_ids_in_every_disguise():
    pid = make_person_id(1)
    wide = pid.translate({ord(c): 0xFF10 + int(c) for c in "0123456789"})
    for text in (pid, f"ID{pid}", f"{pid[:6]} {pid[6:14]} {pid[14:]}", f"x{pid[:9]}-{pid[9:]}y", wide):
        assert raw_ids(text) == [pid], text
        assert raw_ids(scrub(text)) == [], text
    assert raw_ids("2024-03-05 2024-03-06, 0.0011952191235059761") == []


# -- helpers --------------------------------------------------------------------------------------
def records(n: int, start: int = 0, **kw) -> pd.DataFrame:
    return pd.DataFrame([penalty(f"R{start + i}", ORGS[i % 3], **kw) for i in range(n)], columns=RECORD_COLUMNS)


def state(st) -> tuple:
    return st.fingerprint(), st.count("ingest_batches"), st.count("quarantine")


def conserved(res, n_input: int) -> None:
    assert res.rows_read == res.accepted + res.quarantined == n_input, (res.rows_read, res.accepted, res.quarantined)


@pytest.fixture
def base(tmp_path):
    """A store holding the small archive's subjects, and the folder for hostile files."""
    sub = tmp_path / "subjects.csv"
    SUBJECTS.to_csv(sub, index=False)
    st = open_store(tmp_path / "store.duckdb")
    ingest([sub], st, export_date=EXPORT)
    yield st, tmp_path
    st.close()


def reasons(st, batch: str | None = None) -> list[tuple[int, str, str]]:
    q = st.sql("SELECT source_row, reason, field, detail FROM quarantine ORDER BY source_file, source_row")
    return [(int(r), reason, f) for r, reason, f in zip(q["source_row"], q["reason"], q["field"])]


# -- 1. every row of every input ------------------------------------------------------------------
def test_every_sheet_of_a_workbook_is_read_and_others_are_listed(base):
    st, d = base
    path = d / "two_sheets.xlsx"
    with pd.ExcelWriter(path, engine="xlsxwriter") as xw:
        records(20).to_excel(xw, sheet_name="records_a", index=False)
        records(30, start=100).to_excel(xw, sheet_name="records_b", index=False)
        pd.DataFrame({"备注": ["导出说明", "第二行"]}).to_excel(xw, sheet_name="说明", index=False)
        pd.DataFrame().to_excel(xw, sheet_name="empty", index=False)
    res = ingest([path], st, export_date=EXPORT)
    conserved(res, 50)
    assert res.accepted == 50 and st.count("records") == 50
    sheets = {s["sheet"]: s for s in res.to_dict()["other_sheets"]}
    assert sheets["说明"]["rows"] == 2 and sheets["empty"]["rows"] == 0
    assert any("说明" in w for w in res.report.warnings)
    files = st.sql("SELECT DISTINCT source_file FROM records")["source_file"].map(lambda p: Path(p).name)
    assert set(files) == {"two_sheets.xlsx#records_a", "two_sheets.xlsx#records_b"}


def _formula_workbook(path: Path, rows: pd.DataFrame, formula_row: int, error_row: int | None = None) -> None:
    """openpyxl writes formulas without a saved value (as a file never opened in Excel)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(list(rows.columns))
    for i, r in enumerate(rows.itertuples(index=False)):
        vals = list(r)
        if i == formula_row:
            vals[RECORD_COLUMNS.index("amount")] = "=1000*5"
        ws.append(vals)
    wb.save(path)
    if error_row is not None:  # an error value cached for a formula (as Excel saves #DIV/0!)
        with zipfile.ZipFile(path) as z:
            parts = {n: z.read(n) for n in z.namelist()}
        col = chr(ord("A") + RECORD_COLUMNS.index("amount"))
        ref = f"{col}{error_row + 2}".encode()
        xml = parts["xl/worksheets/sheet1.xml"]
        xml = re.sub(
            rb'<c r="' + ref + rb'"[^>]*>.*?</c>', b'<c r="' + ref + b'" t="e"><f>1/0</f><v>#DIV/0!</v></c>', xml
        )
        parts["xl/worksheets/sheet1.xml"] = xml
        with zipfile.ZipFile(path, "w") as z:
            for n, b in parts.items():
                z.writestr(n, b)


@pytest.mark.parametrize("chunk", [16 << 20, 97])  # the sheet XML scanned whole, or in many small pieces
def test_formula_cells_without_a_value_are_quarantined(base, monkeypatch, chunk):
    from scoring.archive import read

    monkeypatch.setattr(read, "SCAN_CHUNK", chunk)
    st, d = base
    path = d / "formulas.xlsx"
    _formula_workbook(path, records(6), formula_row=2, error_row=4)
    res = ingest([path], st, export_date=EXPORT)
    conserved(res, 6)
    assert res.by_reason == {"FORMULA_NO_VALUE": 2}
    q = st.sql("SELECT source_row, field, detail FROM quarantine ORDER BY source_row")
    assert list(q["source_row"]) == [3, 5] and set(q["field"]) == {"amount"}
    assert "H4" in q["detail"][0] and "error value" in q["detail"][1]


@pytest.mark.parametrize(
    "line,reason,needle",
    [
        ("R9,{org},ADM_PENALTY,2024-03-01,doc9,金华市市场监督管理局,general,5000,EXTRA", "RAGGED_ROW", "9 fields"),
        ("R9,{org},ADM_PENALTY", "RAGGED_ROW", "3 fields"),
        ("R9,{org},ADM_PENALTY,2024-03-01,doc9,\xff\xfe坏,general,5000", "UNDECODABLE_ROW", "utf-8"),
    ],
)
def test_a_bad_csv_row_is_quarantined_with_its_line_and_the_rest_loads(base, line, reason, needle):
    st, d = base
    path = d / "records.csv"
    records(6).to_csv(path, index=False)
    lines = path.read_bytes().splitlines(keepends=True)
    bad = line.format(org=ORGS[0]).encode("utf-8", "surrogateescape")
    bad = bad.replace("\xff\xfe".encode(), b"\xff\xfe")
    lines.insert(4, bad + b"\n")  # file line 5 = data row 4
    path.write_bytes(b"".join(lines))
    res = ingest([path], st, export_date=EXPORT)
    conserved(res, 7)
    assert res.by_reason == {reason: 1}
    q = st.sql("SELECT source_row, detail FROM quarantine")
    assert int(q["source_row"][0]) == 4 and "line 5" in q["detail"][0] and needle in q["detail"][0]
    assert st.count("records") == 6


def test_quoted_newlines_are_one_row(base):
    st, d = base
    path = d / "records.csv"
    df = records(4)
    df.loc[1, "agency"] = "金华市\n市场监督管理局"
    df.to_csv(path, index=False)
    res = ingest([path], st, export_date=EXPORT)
    conserved(res, 4)
    assert res.by_reason == {"BAD_VALUE": 1}  # a line break inside a value is a control character


@pytest.mark.parametrize(
    "encoding,given,delimiter",
    [
        ("gbk", None, ","),
        ("gb18030", None, ","),
        ("utf-16", None, "\t"),  # Excel's "Unicode text": UTF-16 LE with BOM, tab-separated
        ("utf-8-sig", None, ","),
        ("gbk", "gbk", ","),
        ("gb18030", "GB18030", ","),
    ],
)
def test_common_encodings_are_read(base, encoding, given, delimiter):
    st, d = base
    path = d / "records.csv"
    df = records(5)
    df["agency"] = ["金华市市场监督管理局", "婺城区人民法院", "金东区税务局", "兰溪市应急管理局", "义乌市𠀀局"][:5]
    if encoding == "gbk":
        df.loc[4, "agency"] = "义乌市综合行政执法局"
    df.to_csv(path, index=False, encoding=encoding, sep=delimiter)
    res = ingest([path], st, export_date=EXPORT, encoding=given)
    conserved(res, 5)
    assert res.accepted == 5
    assert sorted(st.sql("SELECT agency FROM records")["agency"]) == sorted(df["agency"])


def test_an_unknown_encoding_is_a_clear_error(base):
    st, d = base
    path = d / "records.csv"
    records(2).to_csv(path, index=False)
    before = state(st)
    with pytest.raises(InputFileError, match="unknown text encoding"):
        ingest([path], st, export_date=EXPORT, encoding="klingon")
    assert state(st) == before


def test_stray_and_duplicate_files_are_skipped_and_listed(base):
    st, d = base
    folder = d / "export"
    folder.mkdir()
    records(5).to_csv(folder / "records.csv", index=False)
    (folder / "records_copy.csv").write_bytes((folder / "records.csv").read_bytes())
    (folder / "~$records.xlsx").write_bytes(b"\x00lock\xff")
    (folder / "._records.csv").write_bytes(b"\x00\x05\x16\x07Mac OS X\xff")
    (folder / "readme.txt").write_text("说明：本目录为导出文件", encoding="utf-8")
    (folder / "NOTES.md").write_text("# notes", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    res = ingest([folder], st, export_date=EXPORT)
    conserved(res, 5)
    out = json.loads(json.dumps(res.to_dict(), default=str))  # what --json shows
    skipped = {Path(s["path"]).name: s["reason"] for s in out["skipped_files"]}
    assert set(skipped) == {"~$records.xlsx", "._records.csv", "readme.txt", "NOTES.md", ".DS_Store"}
    assert "lock" in skipped["~$records.xlsx"]
    assert [Path(s["path"]).name for s in out["duplicate_files"]] == ["records_copy.csv"]
    assert res.report.skipped_files and res.report.duplicate_files
    assert "Skipped" in res.report.to_text()


def test_a_sheet_spanning_the_whole_grid_is_refused_before_reading(base):
    st, d = base
    path = d / "huge.xlsx"
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("records")
    for c, h in enumerate(RECORD_COLUMNS):
        ws.write_string(0, c, h)
    ws.write_string(1048575, 16383, "x")  # XFD1048576
    wb.close()
    assert path.stat().st_size < 10_000
    before = state(st)
    with pytest.raises(InputFileError) as ei:
        ingest([path], st, export_date=EXPORT)
    assert str(path) in str(ei.value) and "1,048,576 rows" in str(ei.value)
    assert state(st) == before and not scratch_path(st.path).exists()


def test_a_header_given_twice_is_an_error(base):
    st, d = base
    path = d / "records.csv"
    df = records(2)
    df["主体标识"] = df["subject_id"]
    df.to_csv(path, index=False)
    before = state(st)
    with pytest.raises(InputFileError, match="subject_id.*主体标识|主体标识.*subject_id"):
        ingest([path], st, export_date=EXPORT)
    assert state(st) == before


# -- 2. one normalisation for identifiers ---------------------------------------------------------
@pytest.mark.parametrize(
    "disguise",
    [
        lambda s: "\t" + s,
        lambda s: s + "\r",
        lambda s: s + "\n",
        lambda s: " " + s + "\u3000",
        lambda s: s[:6] + " " + s[6:],
        lambda s: "\ufeff" + s + "\u200b",
        lambda s: s.translate({ord(c): 0xFF10 + int(c) for c in "0123456789"}),
        lambda s: s.lower(),
    ],
)
def test_an_id_in_disguise_is_the_same_subject(tmp_path, disguise):
    person = next(p for p in (make_person_id(i) for i in range(1, 50)) if p.endswith("X"))
    subjects = SUBJECTS.copy()
    subjects.loc[len(subjects)] = {
        "subject_id": disguise(person), "subject_type": "person", "name": "测试X", "industry_code": None,
        "region_code": "330702", "registered_on": None, "legal_rep_id": None, "actual_controller_id": None,
        "positive_opt_out": None,
    }  # fmt: skip
    subjects.loc[0, "legal_rep_id"] = disguise(person)
    sub = tmp_path / "subjects.csv"
    subjects.to_csv(sub, index=False, quoting=csv.QUOTE_ALL)  # a CR or LF inside a value is quoted
    rec = tmp_path / "records.xlsx"  # and in a workbook, as Excel keeps it
    pd.DataFrame([penalty("P1", person), penalty("P2", disguise(person))], columns=RECORD_COLUMNS).to_excel(
        rec, index=False
    )
    with open_store(tmp_path / "s.duckdb") as st:
        res = ingest([sub, rec], st, export_date=EXPORT)
        conserved(res, len(subjects) + 2)
        assert res.quarantined == 0, res.by_reason
        assert st.sql("SELECT count(*) FROM subjects WHERE subject_id = ?", [person]).iloc[0, 0] == 1
        assert set(st.sql("SELECT subject_id FROM records")["subject_id"]) == {person}
        assert st.sql("SELECT legal_rep_id FROM subjects WHERE subject_id = ?", [ORGS[0]]).iloc[0, 0] == person
    assert normalise_id(disguise(person)) == person


# -- 3. strict dates ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value,ok",
    [
        ("2024-03-05", True),
        ("2024/3/5", True),
        ("20240305", True),
        ("2024年3月5日", True),
        (" 2024-03-05\t", True),
        ("24-03-05", False),
        ("0024-03-05", False),
        ("1899-12-31", False),
        ("2024035", False),
        ("202403051", False),
        ("-infinity", False),
        ("infinity", False),
        ("epoch", False),
        ("2024-03-05 BC", False),
        ("-2024-03-05", False),
        ("2024-02-30", False),
        ("05/03/2024", False),
        ("2024-03-05T00:00:00Z", False),
        ("2024-03\x0005", False),
    ],
)
def test_only_documented_dates_are_accepted(base, value, ok):
    st, d = base
    path = d / "records.csv"
    records(1, day=value).to_csv(path, index=False)
    res = ingest([path], st, export_date=EXPORT)
    conserved(res, 1)
    assert (res.accepted == 1) is ok, res.by_reason
    if not ok:
        assert res.by_reason == {"BAD_DATE": 1}


def test_a_planned_list_exit_may_lie_ahead(base):
    st, d = base
    path = d / "records.csv"
    row = penalty("L1", ORGS[0], record_type="JUD_DISHONEST_DEBTOR", severity="serious", amount=None)
    row.update(list_entry_on="2025-01-10", list_exit_on="2027-01-10")
    pd.DataFrame([row]).to_csv(path, index=False)
    res = ingest([path], st, export_date=EXPORT)
    conserved(res, 1)
    assert res.accepted == 1, res.by_reason


@pytest.mark.parametrize("value", ["金华市\x00监管局", "\x1b[31m金华市\x1b[0m", "金华\u202e局"])
def test_control_characters_inside_values_are_quarantined(base, value):
    st, d = base
    path = d / "records.csv"
    records(2, agency=value).to_csv(path, index=False)
    res = ingest([path], st, export_date=EXPORT)
    conserved(res, 2)
    assert res.by_reason == {"BAD_VALUE": 2}
    assert "\x1b" not in res.report.to_text() and "\x00" not in json.dumps(res.report.to_dict())
    for row in quarantine_listing(st):
        assert not any(ord(c) < 32 for v in row["original"].values() if v for c in v)


# -- 5. no raw ID number in any output -------------------------------------------------------------
def test_no_raw_id_in_reports_listings_or_errors(base):
    st, d = base
    pid = PERSONS[0]
    glued = f"ID{pid}"
    spaced = f"{pid[:6]} {pid[6:14]} {pid[14:]}"
    path = d / "records.csv"
    df = records(4)
    df.loc[0, "agency"] = glued  # IDs in free-text fields
    df.loc[1, "record_type"] = spaced
    df.loc[2, "subject_id"] = make_person_id(77)  # unknown subject: the ID goes to the quarantine
    df.loc[3, "event_date"] = pid
    df.to_csv(path, index=False)
    report = d / "report.json"
    res = ingest([path], st, export_date=EXPORT, report_path=report)
    conserved(res, 4)
    for text in (report.read_text("utf-8"), report.with_suffix(".txt").read_text("utf-8"),
                 json.dumps(res.to_dict(), ensure_ascii=False),
                 json.dumps(quarantine_listing(st, limit=100), ensure_ascii=False)):  # fmt: skip
        assert raw_ids(text) == []
    assert raw_ids(json.dumps(st.sql("SELECT original FROM quarantine")["original"].tolist())), "the store keeps them"
    named = d / f"export_{pid}.parquet"
    named.write_text("not parquet")
    with pytest.raises(InputFileError) as ei:
        ingest([named], st, export_date=EXPORT)
    assert raw_ids(str(ei.value)) == []


def test_quarantine_listing_refuses_a_negative_limit(base):
    st, _ = base
    with pytest.raises(DataError, match="limit"):
        quarantine_listing(st, limit=-1)
    assert quarantine_listing(st, limit=0) == []


# -- 4. inert exports -----------------------------------------------------------------------------
HOSTILE_CELLS = [
    '=HYPERLINK("http://127.0.0.1:9/x?"&A2,"点击")',
    "=cmd|' /C calc'!A0",
    "+1+2",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "正常企业名称",
]


def test_inert_text_follows_the_owasp_rule():
    for v in HOSTILE_CELLS[:-1]:
        assert inert_text(v).startswith("'"), v
    assert inert_text("正常企业名称") == "正常企业名称"
    assert inert_text("\x1b[31mred\x1b[0m") == "red"


def test_exported_csv_and_xlsx_hold_no_formula(tmp_path):
    df = pd.DataFrame(
        {"名称": HOSTILE_CELLS, "分数": range(len(HOSTILE_CELLS)), "日期": [dt.date(2026, 6, 30)] * len(HOSTILE_CELLS)}
    )
    df.index = pd.Index(HOSTILE_CELLS, name="=index")
    c = write_csv(df, tmp_path / "list.csv", index=True, encoding="utf-8-sig")
    with open(c, encoding="utf-8-sig", newline="") as f:
        for row in csv.reader(f):
            for cell in row:
                assert not cell or cell[0] not in "=+-@\t\r", cell
    x = write_xlsx({"名单": df, "=sheet": df.reset_index()}, tmp_path / "list.xlsx")
    with zipfile.ZipFile(x) as z:
        for n in z.namelist():
            if n.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(n) and b"<f " not in z.read(n)
    from openpyxl import load_workbook

    wb = load_workbook(x)
    texts = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", cell.coordinate
                if isinstance(cell.value, str):
                    texts.append(cell.value)
                    if cell.value.lstrip()[:1] in ("=", "+", "-", "@"):
                        assert cell.quotePrefix, cell.coordinate
    assert set(HOSTILE_CELLS[:2]) <= set(texts)  # kept as text, shown as written
    with InertWorkbook(tmp_path / "layout.xlsx") as wb2:
        ws = wb2.sheet("等级名单", df)
        ws.freeze_panes(1, 1)


# -- 6. the lawful screen by category -------------------------------------------------------------
def _catalog_with(tmp_path: Path, **rt) -> Path:
    data = yaml.safe_load((config_dir() / "catalog.yaml").read_text(encoding="utf-8"))
    base = {
        "category": "C03", "subject_types": ["person"], "polarity": "neutral", "legal_basis": "《某某条例》第十条",
        "publicity": "negative_1y", "requires_document": True,
    }  # fmt: skip
    base.update(rt)
    data["record_types"].append(base)
    p = tmp_path / "catalog.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


HOSTILE_ENTRIES = [
    ("SEXUAL_ORIENTATION", "性取向", "Sexual orientation"),
    ("RACE_GROUP", "种族", "Race"),
    ("DISABILITY_STATUS", "残疾等级", "Disability grade"),
    ("HIV_STATUS", "感染情况", "HIV status"),
    ("PREGNANCY", "怀孕情况", "Pregnancy"),
    ("WHEREABOUTS", "行踪轨迹", "Whereabouts"),
    ("MENTAL_HEALTH", "精神障碍", "Mental disorder"),
    ("CHURCH_DONATION", "教会捐款", "Church donations"),
    ("TEMPLE_GIFT", "寺庙香火钱", "Temple donations"),
    ("FAITH_A", "宗 教", "Affiliation"),
    ("FAITH_B", "信教情况", "Affiliation"),
    ("FAITH_C", "登记", "ｒｅｌｉｇｉｏｎ"),
    ("BLOOD_INFO", "血 型", "Blood-Types"),
    ("GENE_TEST", "基因检测", "Genetic test"),
    ("FINGER_ID", "指纹", "Fingerprints"),
    ("FACE_SCAN", "刷脸记录", "Face scans"),
    ("BANK_ACCT", "银行账户", "Bank account"),
    ("MINOR_INFO", "未成年人信息", "Juvenile records"),
    ("ETHNIC_X", "民族", "Ethnic group"),
    ("MEDICALHISTORY", "就诊", "MedicalHistory"),
]


@pytest.mark.parametrize("code,zh,en", HOSTILE_ENTRIES, ids=[e[0] for e in HOSTILE_ENTRIES])
def test_hostile_catalogue_entries_are_refused(tmp_path, code, zh, en):
    p = _catalog_with(tmp_path, code=code, name_zh=zh, name_en=en)
    with pytest.raises(ConfigError) as ei:
        load_catalog(p)
    assert str(p) in str(ei.value) and code in str(ei.value)


def test_a_hostile_tag_is_refused_and_the_real_catalogue_loads(tmp_path):
    p = _catalog_with(tmp_path, code="HARMLESS_NAME", name_zh="登记事项", name_en="Registration", tags=["宗教场所"])
    with pytest.raises(ConfigError, match="HARMLESS_NAME"):
        load_catalog(p)
    assert len(load_catalog().record_types) >= 30


def test_hostile_columns_are_dropped_and_hostile_types_never_stored(base):
    st, d = base
    path = d / "records.csv"
    df = records(3)
    df.loc[2, "record_type"] = "SEXUAL_ORIENTATION"
    for col in ("sexual_orientation", "宗 教", "ｒｅｌｉｇｉｏｎ", "HIV status", "行踪轨迹"):
        df[col] = "x"
    df.to_csv(path, index=False)
    res = ingest([path], st, export_date=EXPORT)
    conserved(res, 3)
    assert res.by_reason == {"UNKNOWN_RECORD_TYPE": 1}
    assert len(res.files[0]["dropped_forbidden_columns"]) == 5
    assert st.sql("SELECT count(*) FROM quarantine WHERE original::VARCHAR LIKE '%sexual_orientation%'").iloc[0, 0] == 0


# -- 7. clear errors, clean failure --------------------------------------------------------------
def test_a_parquet_list_column_is_a_clear_error(base):
    st, d = base
    path = d / "records.parquet"
    t = pa.Table.from_pandas(records(2).astype("string"), preserve_index=False)
    t = t.set_column(t.column_names.index("agency"), "agency", pa.array([["a"], ["b", "c"]]))
    pq.write_table(t, path)
    before = state(st)
    with pytest.raises(InputFileError) as ei:
        ingest([path], st, export_date=EXPORT)
    assert str(path) in str(ei.value) and "agency" in str(ei.value)
    assert state(st) == before and not scratch_path(st.path).exists()


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\xff", b"version: '1'\nversion: '2'\n"])
def test_a_binary_or_doubled_yaml_is_a_config_error(tmp_path, content):
    p = tmp_path / "catalog.yaml"
    p.write_bytes(content)
    with pytest.raises(ConfigError) as ei:
        load_catalog(p)
    assert str(p) in str(ei.value)


def test_a_broken_manifest_is_a_clear_error(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    records(1).to_csv(folder / "records.csv", index=False)
    (folder / "manifest.json").write_bytes(b"\xff\xfe\x00garbage")
    with open_store(tmp_path / "s.duckdb") as st, pytest.raises(InputFileError, match="manifest.json"):
        ingest([folder], st)


@pytest.mark.parametrize("name", ["it's.duckdb", "x'; CREATE TABLE pwned(a INT); --.duckdb", 'q"uote.duckdb'])
def test_a_hostile_store_path_is_only_a_path(tmp_path, name):
    folder = tmp_path / "in"
    folder.mkdir()
    SUBJECTS.to_csv(folder / "subjects.csv", index=False)
    records(3).to_csv(folder / "records.csv", index=False)
    with open_store(tmp_path / name) as st:
        res = ingest([folder], st, export_date=EXPORT)
        conserved(res, len(SUBJECTS) + 3)
        again = ingest([folder], st, export_date=EXPORT)
        assert again.inserted == 0 and again.updated == 0
        tables = set(st.sql("SELECT table_name FROM information_schema.tables")["table_name"])
        assert "pwned" not in tables
    assert not scratch_path(tmp_path / name).exists()


def test_a_stale_scratch_database_is_removed_when_the_store_opens(tmp_path):
    store = tmp_path / "s.duckdb"
    open_store(store).close()
    scratch = scratch_path(store)
    scratch.write_bytes(b"staged raw IDs")  # as left by a kill -9 during an ingest
    with open_store(store, read_only=True):
        assert scratch.exists()  # a reader does not hold the write lock and leaves it
    with open_store(store):
        assert not scratch.exists()


FULL_DISK = """
import resource, signal, sys
from scoring.archive.ingest import ingest
from scoring.archive.store import open_store, scratch_path
from scoring.core.errors import XinyiError
store, data, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
st = open_store(store)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond the limit fails with EFBIG, like a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    ingest([data], st, export_date=__import__("datetime").date(2026, 6, 30))
    print("NO ERROR")
except XinyiError as exc:
    print("XINYI", type(exc).__name__, str(exc).replace("\\n", " "))
print("SCRATCH", scratch_path(store).exists(), __import__("pathlib").Path(str(scratch_path(store)) + ".wal").exists())
"""


def test_a_full_disk_while_staging_is_a_clear_error_and_removes_the_scratch(base):
    """A real write failure (the file-size limit makes every write past it fail with EFBIG, as a
    full disk does): a StoreError naming the store, the store unchanged, no scratch left."""
    import subprocess
    import sys

    st, d = base
    path = d / "records.csv"
    big = pd.concat([records(1000, start=k * 1000) for k in range(40)], ignore_index=True)
    big.to_csv(path, index=False)
    before = state(st)
    st.close()
    size = max(st.path.stat().st_size, path.stat().st_size) + (1 << 20)
    out = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(st.path), str(path), str(size)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "XINYI StoreError" in out.stdout, out.stdout + out.stderr
    assert str(st.path) in out.stdout and "Traceback" not in out.stderr
    assert "SCRATCH False False" in out.stdout
    with open_store(st.path) as again:
        assert state(again) == before
        st.con = again.con  # the fixture closes it


# -- 8. idempotence by content -------------------------------------------------------------------
def test_the_same_rows_in_another_format_change_nothing(base):
    st, d = base
    df = records(6)
    df.loc[1, "event_date"] = "2024-02-30"
    df.loc[3, "record_type"] = "JAYWALKING"
    df.loc[5] = df.loc[4]
    df.to_csv(d / "r.csv", index=False)
    first = ingest([d / "r.csv"], st, export_date=EXPORT)
    conserved(first, 6)
    assert first.quarantined == 3
    fp, n_q = st.fingerprint(), st.count("quarantine")
    df.astype("string").to_parquet(d / "r.parquet", index=False)
    df.to_excel(d / "r.xlsx", index=False)
    df.to_csv(d / "r_gbk.csv", index=False, encoding="gbk")
    for f in ("r.parquet", "r.xlsx", "r_gbk.csv"):
        again = ingest([d / f], st, export_date=EXPORT)
        conserved(again, 6)
        assert again.inserted == again.updated == 0 and again.quarantine_added == 0, f
        assert st.count("quarantine") == n_q and st.fingerprint() == fp, f


# -- the committed sample still ingests exactly -----------------------------------------------
def test_masking_keeps_public_codes_and_numbers():
    org = make_uscc(5)
    assert scrub(f"org {org} fined 0.0011952191235059761") == f"org {org} fined 0.0011952191235059761"
    assert codecs.lookup("gb18030").name == "gb18030"


# -- 9. readers during an ingest -------------------------------------------------------------------
INGEST_PATH = """
import sys
from scoring.archive.ingest import ingest_path
ingest_path(sys.argv[1], [sys.argv[2]], progress=lambda m: print(m, file=sys.stderr, flush=True))
"""


def test_readers_keep_the_last_state_during_an_ingest_and_kill_9_leaves_it(tmp_path):
    """A real ingest (ingest_path) paused inside its transaction: a reader opens the store and
    reads the state before it; kill -9; the store is exactly as before; the next ingest completes."""
    import os
    import signal
    import subprocess
    import sys

    from scoring.archive.ingest import ingest_path, next_path

    store = tmp_path / "s.duckdb"
    sub = tmp_path / "subjects.csv"
    SUBJECTS.to_csv(sub, index=False)
    ingest_path(store, [sub], export_date=EXPORT)
    rec = tmp_path / "records.csv"
    records(5).to_csv(rec, index=False)
    with open_store(store, read_only=True) as st:
        before = (st.fingerprint(), st.count("subjects"), st.count("records"))
    env = {**os.environ, "XINYI_INGEST_PAUSE_IN_TRANSACTION": "60"}
    proc = subprocess.Popen(
        [sys.executable, "-c", INGEST_PATH, str(store), str(rec)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if "paused inside the transaction" in line:
            with open_store(store, read_only=True) as reader:  # a reader during the ingest
                assert (reader.fingerprint(), reader.count("subjects"), reader.count("records")) == before
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    with open_store(store, read_only=True) as st:
        assert (st.fingerprint(), st.count("subjects"), st.count("records")) == before
    assert next_path(store).exists()  # the unfinished new version, removed by the next ingest
    res = ingest_path(store, [rec], export_date=EXPORT)
    assert res.inserted == 5 and not next_path(store).exists()
    with open_store(store, read_only=True) as st:
        assert st.count("records") == 5
