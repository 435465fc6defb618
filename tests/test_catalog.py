"""The record catalogue: typed loading, dated publicity regimes, lawful-by-construction refusals."""

import datetime as dt
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.archive.catalog import Category, SubjectType, load_catalog
from scoring.core.config import config_dir
from scoring.core.dates import add_months
from scoring.core.errors import ConfigError
from scoring.core.lawful import screen
from scoring.features.industry import load_industries

pytestmark = pytest.mark.smoke
CAT = load_catalog()


def test_catalogue_covers_all_categories_and_subjects():
    assert len(CAT.record_types) >= 30
    assert {r.category for r in CAT.record_types} == set(Category)
    assert CAT.types_for(SubjectType.person) and CAT.types_for(SubjectType.enterprise)
    for code in (
        "JUD_DISHONEST_DEBTOR",
        "SDL_SERIOUS_DISHONEST",
        "ABN_OPERATION_LIST",
        "COM_MADE",
        "COM_KEPT",
        "COM_BROKEN",
        "CON_BREACH",
        "EVAL_TAX_GRADE",
        "VOL_SERVICE_HOURS",
        "ADM_RIGHTEOUS_ACT",
    ):
        assert code in CAT
    for r in CAT.record_types:
        assert r.legal_basis and r.name_zh and r.name_en


def test_table_is_readable():
    df = CAT.build_table()
    assert len(df) == len(CAT.record_types)
    assert {"code", "name_zh", "category", "polarity", "legal_basis", "publicity"} <= set(df.columns)
    assert not CAT.regimes_table().empty


@pytest.mark.parametrize(
    "day,severity,regime,max_end",
    [
        ("2019-06-30", "serious", "ndrc_2019_527", "2022-06-30"),  # before the first regime: earliest applies
        ("2019-07-01", "serious", "ndrc_2019_527", "2022-07-01"),
        ("2023-04-30", "minor", "ndrc_2019_527", "2024-04-30"),
        ("2023-05-01", "minor", "ndrc_order_58", "2023-05-01"),  # minor no longer published: no window
        ("2026-03-31", "general", "ndrc_order_58", "2027-03-31"),
        ("2026-04-01", "minor", "ndrc_order_36", "2026-07-01"),
    ],
)
def test_regime_is_decided_by_record_date(day, severity, regime, max_end):
    w = CAT.window("ADM_PENALTY", dt.date.fromisoformat(day), severity)
    assert w.regime == regime
    assert w.end == dt.date.fromisoformat(max_end)


regime_days = st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2030, 12, 31))


@settings(max_examples=200, deadline=None)
@given(regime_days, st.sampled_from(["minor", "general", "serious"]))
def test_regime_boundaries(day, severity):
    rule = CAT.rule("ADM_PENALTY")
    w = CAT.window("ADM_PENALTY", day, severity)
    in_force = [r for r in rule.regimes if r.effective_from <= day]
    expected = in_force[-1] if in_force else rule.regimes[0]
    assert w.regime == expected.code
    p = expected.periods[severity]
    assert w.end == add_months(day, p.max)
    assert w.repair_from == add_months(day, p.min)
    assert w.repair_from <= w.end


def test_list_and_fixed_windows():
    d = dt.date(2024, 2, 29)
    assert CAT.window("JUD_DISHONEST_DEBTOR", d, list_entry_on=d).end == dt.date(2026, 2, 28)
    assert CAT.window("JUD_DISHONEST_DEBTOR", d, list_entry_on=d, list_exit_on=dt.date(2024, 6, 1)).end == dt.date(
        2024, 6, 1
    )
    assert CAT.window("SDL_SERIOUS_DISHONEST", d, list_entry_on=d).end is None
    assert CAT.window("VOL_SERVICE_HOURS", d).end == dt.date(2029, 2, 28)
    assert CAT.window("REG_ESTABLISH", d).end is None


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((config_dir() / "catalog.yaml").read_text(encoding="utf-8"))
    mutate(data)
    p = tmp_path / "catalog.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def _add(rt):
    base = {
        "category": "C03",
        "subject_types": ["person"],
        "polarity": "negative",
        "severities": ["general"],
        "legal_basis": "《中华人民共和国行政处罚法》",
        "publicity": "negative_1y",
    }
    base.update(rt)
    return lambda d: d["record_types"].append(base)


@pytest.mark.parametrize(
    "rt,needle",
    [
        ({"code": "JAYWALKING", "name_zh": "行人闯红灯", "name_en": "Jaywalking"}, "jaywalking"),
        ({"code": "PROPERTY_FEE_ARREARS", "name_zh": "拖欠物业费", "name_en": "Property fee arrears"}, "property"),
        ({"code": "GARBAGE", "name_zh": "垃圾分类不达标", "name_en": "Waste sorting failure"}, "garbage"),
        (
            {
                "code": "RELIGION",
                "name_zh": "宗教信仰",
                "name_en": "Religious affiliation",
                "polarity": "neutral",
                "severities": [],
            },
            "relig",
        ),
        (
            {
                "code": "HEALTH_RECORD",
                "name_zh": "健康状况",
                "name_en": "Health status",
                "polarity": "neutral",
                "severities": [],
            },
            "health",
        ),
        (
            {
                "code": "ETHNIC_GROUP",
                "name_zh": "民族",
                "name_en": "Ethnic group",
                "polarity": "neutral",
                "severities": [],
            },
            "ethnic",
        ),
        (
            {
                "code": "PERSON_INCOME",
                "name_zh": "个人收入",
                "name_en": "Personal income",
                "polarity": "neutral",
                "severities": [],
            },
            "consent",
        ),
    ],
)
def test_unlawful_record_types_are_refused(tmp_path, rt, needle):
    p = _write(tmp_path, _add(rt))
    with pytest.raises(ConfigError) as ei:
        load_catalog(p)
    msg = str(ei.value)
    assert str(p) in msg and "record_types" in msg and rt["code"] in msg
    assert needle in msg.lower()


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (_add({"code": "NO_BASIS", "name_zh": "无依据", "name_en": "No basis", "legal_basis": "无"}), "legal_basis"),
        (_add({"code": "BAD_RULE", "name_zh": "坏规则", "name_en": "Bad rule", "publicity": "forever"}), "forever"),
        (
            _add({"code": "NO_DOC", "name_zh": "无文书", "name_en": "No document", "requires_document": False}),
            "document",
        ),
        (_add({"code": "BAD_CAT", "name_zh": "坏类别", "name_en": "Bad category", "category": "C12"}), "category"),
        (_add({"code": "ADM_PENALTY", "name_zh": "重复", "name_en": "Duplicate"}), "duplicate"),
        (lambda d: d["publicity_rules"]["admin_penalty"]["regimes"].reverse(), "increasing"),
        (
            lambda d: d["publicity_rules"]["admin_penalty"]["regimes"][0]["periods"]["general"].update(min="2y"),
            "longer than max",
        ),
    ],
)
def test_invalid_catalogue_gives_precise_error(tmp_path, mutate, needle):
    p = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as ei:
        load_catalog(p)
    assert str(p) in str(ei.value)
    assert needle in str(ei.value)


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "catalog.yaml"
    p.write_text("version: '1'\nrecord_types: [\n  - code: X\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"catalog.yaml: line \d+"):
        load_catalog(p)


def test_screen_has_no_false_positives_on_catalogue_words():
    for text in ("agency", "Administrative penalty", "wage arrears", "Competition", "surface", "营业执照", "食品安全"):
        assert screen(text) == [], text
    assert screen("birth_date") and screen("Blood-Type") and screen("用户人脸")


def test_industries_load_one_file_each():
    inds = load_industries()
    assert len(inds) >= 5
    assert {"elderly_care", "travel_agency", "construction", "medical", "food"} <= set(inds)
