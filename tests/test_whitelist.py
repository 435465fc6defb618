"""信易贷 whitelists (scoring.grades.whitelist): a rule of the scene in configs/scenes.yaml, applied to
a grade list's rows: at or above the grade, no veto, no active list record, with the reasons; the
threshold never becomes a label on the organisation."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from scoring.core.config import config_dir
from scoring.core.errors import ConfigError, DataError, NotFoundError
from scoring.features.industry import GRADE_INDEX, load_industries
from scoring.grades.whitelist import (
    WHITELIST_COLUMNS,
    WhitelistRule,
    load_whitelist_rules,
    whitelist,
    whitelist_rule,
    whitelist_workbook,
)
from scoring.points.personal import load_scenes

IND = load_industries()["construction"]
LABEL = {v.code: v.label_zh for v in IND.vetoes}


def _rows() -> pd.DataFrame:
    """A construction list's rows: every grade, a veto of each kind, one 良好 organisation whose
    rules name an active list although its deciding veto code is another."""
    rows = []
    for i, (grade, veto, rules) in enumerate(
        [
            ("优秀", "", ""),
            ("良好", "", ""),
            ("良好", "", "升级限制：每期最多上调1级（上期中等）"),
            ("中等", "", ""),
            ("较差", "major_accident", f"直接定级：{LABEL['major_accident']} → 最高较差"),
            ("差", "dishonest_debtor", f"直接定级：{LABEL['dishonest_debtor']} → 差"),
            ("良好", "", f"直接定级：{LABEL['wage_arrears']} → 差"),  # inconsistent on purpose: rules win
            ("差", "", ""),
        ]
    ):
        rows.append(
            {
                "subject_id": f"9133070{i:02d}MA2800000X",
                "name": f"金华市测试{i}建筑有限公司",
                "industry_zh": IND.name_zh,
                "industry": "construction",
                "as_of": "2026-06-30",
                "grade": grade,
                "risk": 0.01 * i,
                "veto": veto,
                "veto_zh": LABEL.get(veto, ""),
                "rules": rules,
                "reason_1": f"原因{i}",
                "reason_2": "",
                "reason_3": "",
                "district_zh": "婺城区",
                "address": "浙江省金华市婺城区某路1号",
                "legal_rep_masked": "李*",
            }
        )
    return pd.DataFrame(rows)


def test_the_rule_is_typed_and_the_person_scenes_still_load():
    rule = whitelist_rule("xinyidai")
    assert isinstance(rule, WhitelistRule) and rule.min_grade == "良好" and rule.exclude_veto
    assert rule.covers("construction") and rule.covers("medical") and "发改财金〔2019〕1491号" in rule.legal_basis
    assert {s.code for s in load_scenes()} >= {"library", "transit"}  # the person scenes are untouched
    with pytest.raises(NotFoundError, match="xinyidai"):
        whitelist_rule("nope")


def _scenes_with(tmp_path: Path, **change) -> Path:
    data = yaml.safe_load((config_dir() / "scenes.yaml").read_text(encoding="utf-8"))
    data["credit_whitelists"][0].update(change)
    p = tmp_path / "scenes.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_grade": "A"}, "min_grade"),
        ({"industries": ["*", "construction"]}, "stands alone"),
        ({"industries": ["shipping"]}, "not industries"),
        ({"exclude_active_lists": ["jaywalking"]}, "not veto codes"),
        ({"legal_basis": ""}, "legal_basis"),
        ({"label": "诚信企业"}, "label"),  # no field may put a label on organisations
    ],
)
def test_bad_rules_are_refused_with_the_file_and_field(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message) as e:
        load_whitelist_rules(_scenes_with(tmp_path, **change))
    assert "credit_whitelists" in str(e.value)


def test_whitelist_keeps_only_organisations_meeting_the_rule_with_their_reasons():
    rows = _rows()
    got = whitelist(rows, whitelist_rule())
    assert list(got.columns) == list(WHITELIST_COLUMNS)
    assert got["subject_id"].tolist() == [rows.loc[i, "subject_id"] for i in (0, 1, 2)]
    assert (got["grade"].map(GRADE_INDEX) <= GRADE_INDEX["良好"]).all()
    assert got["reason_1"].tolist() == ["原因0", "原因1", "原因2"]
    # no column of the whitelist labels the organisation
    assert not any("label" in c or "white" in c for c in got.columns)


def test_thresholds_are_the_scenes_rules():
    rows = _rows()
    strict = whitelist_rule().model_copy(update={"min_grade": "优秀"})
    assert whitelist(rows, strict)["grade"].tolist() == ["优秀"]
    # without the veto rule, an at_most cap is admitted when the grade passes; a listed one never is
    lax = whitelist_rule().model_copy(update={"min_grade": "差", "exclude_veto": False})
    ids = set(whitelist(rows, lax)["subject_id"])
    assert rows.loc[4, "subject_id"] in ids  # major_accident is not on exclude_active_lists
    assert rows.loc[5, "subject_id"] not in ids  # dishonest_debtor is
    assert rows.loc[6, "subject_id"] not in ids  # wage arrears named in the rules
    assert rows.loc[7, "subject_id"] in ids
    every = WhitelistRule(code="any", name_zh="测试", min_grade="差", exclude_veto=False, legal_basis="《测试》第一条")
    assert len(whitelist(rows, every)) == len(rows)


def test_refusals():
    rows = _rows()
    only_medical = whitelist_rule().model_copy(update={"industries": ("medical",)})
    with pytest.raises(DataError, match="covers"):
        whitelist(rows, only_medical)
    with pytest.raises(DataError, match="several industries"):
        whitelist(pd.concat([rows, rows.assign(industry="medical")]), whitelist_rule())
    with pytest.raises(DataError, match="grade"):
        whitelist(rows.drop(columns=["grade"]), whitelist_rule())


def test_workbook_says_the_threshold_is_the_scenes_rule():
    rows = _rows()
    wb = openpyxl.load_workbook(io.BytesIO(whitelist_workbook(rows, whitelist_rule(), {"发布编号": "grade_list-x"})))
    assert wb.sheetnames == ["白名单", "说明"]
    ws = wb["白名单"]
    head = [c.value for c in ws[1]]
    assert head[:3] == ["统一社会信用代码", "名称", "信用等级"] and "主要原因1" in head
    assert ws.max_row - 1 == 3 and ws.freeze_panes == "D2" and ws.page_setup.orientation == "landscape"
    date = ws.cell(2, head.index("评价基准日") + 1)
    assert date.is_date and date.number_format == "yyyy-mm-dd"
    notes = dict(list(wb["说明"].values)[1:])
    assert notes["发布编号"] == "grade_list-x" and notes["入选主体数"] == "3" and notes["评价主体数"] == str(len(rows))
    assert "不是对主体的信用标签" in notes["场景规则"] and "信用等级不低于良好" in notes["入选条件"]
    assert LABEL["dishonest_debtor"] in notes["入选条件"] and "1491号" in notes["依据"]
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f"
