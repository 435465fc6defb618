"""Access decisions (pycasbin, configs/access): role x resource x action x scope, purposes, and the
validation of the access configuration (errors name the file and the key or line)."""

from __future__ import annotations

import shutil

import pytest

from scoring.core.errors import ConfigError, XinyiError
from scoring.core.resources import configs_dir
from scoring.serving.access import (
    ACTIONS,
    PURPOSES,
    RESOURCES,
    ROLES,
    Access,
    check_purpose,
    needs_purpose,
    purposes_for,
)
from scoring.serving.identity import User

CITIZEN = User(1, "zhang", "张三", "citizen", subject_key="Sabcdefghijklmnop")
REG = User(2, "reg", "李监管", "regulator", industries=("construction", "food"), regions=("330702", "330703"))
REG_ALL = User(3, "reg_all", "王监管", "regulator", industries=("*",), regions=("*",))
REG_NONE = User(4, "reg_none", "无范围", "regulator")
OFFICER = User(5, "off", "赵经办", "officer", agency="金华市市场监督管理局")
ANALYST = User(6, "ana", "钱分析", "analyst")
AUDITOR = User(7, "aud", "孙审计", "auditor")
ADMIN = User(8, "adm", "周管理", "admin")
GONE = User(9, "gone", "停用", "regulator", industries=("*",), regions=("*",), active=False)

IN = {"industry": "construction", "region": "330702"}

# (user, resource, action, context, allowed)
CASES = [
    # citizens: their own score and cases only
    (CITIZEN, "score", "read", {"subject_key": "Sabcdefghijklmnop"}, True),
    (CITIZEN, "score", "read", {"subject_key": "Szzzzzzzzzzzzzzzz"}, False),
    (CITIZEN, "score", "read", {}, False),
    (CITIZEN, "case", "write", {"subject_key": "Sabcdefghijklmnop"}, True),
    (CITIZEN, "case", "read", {"subject_key": "Sother"}, False),
    (CITIZEN, "score", "export", {"subject_key": "Sabcdefghijklmnop"}, False),
    (CITIZEN, "grade_list", "read", IN, False),
    (CITIZEN, "organisation", "read", IN, False),
    (CITIZEN, "register", "read", {}, False),
    # regulators: their industries x regions
    (REG, "grade_list", "read", {"industry": "construction"}, True),
    (REG, "grade_list", "read", {"industry": "medical"}, False),
    (REG, "organisation", "read", IN, True),
    (REG, "organisation", "read", {"industry": "food", "region": "330703"}, True),
    (REG, "organisation", "read", {"industry": "construction", "region": "330781"}, False),
    (REG, "organisation", "read", {"industry": "medical", "region": "330702"}, False),
    (REG, "download", "export", IN, True),
    (REG, "inspection_plan", "write", IN, True),
    (REG, "inspection_plan", "write", {"industry": "medical", "region": "330702"}, False),
    (REG, "whitelist", "export", {"industry": "food"}, True),
    (REG, "whitelist", "export", {"industry": "travel_agency"}, False),
    (REG, "justification", "read", IN, True),
    (REG, "grade_list", "write", IN, False),
    (REG, "register", "read", {}, False),
    (REG, "users", "read", {}, False),
    (REG, "score", "read", {"subject_key": "Sabcdefghijklmnop"}, False),
    (REG, "case", "read", {"agency": "金华市市场监督管理局"}, False),
    (REG_ALL, "organisation", "read", {"industry": "medical", "region": "110105"}, True),
    (REG_ALL, "inspection_plan", "read", {"industry": "elderly_care"}, True),
    (REG_NONE, "grade_list", "read", {}, False),
    (REG_NONE, "organisation", "read", IN, False),
    (GONE, "organisation", "read", IN, False),
    # officers: the cases of their agency
    (OFFICER, "case", "read", {"agency": "金华市市场监督管理局"}, True),
    (OFFICER, "case", "write", {"agency": "金华市市场监督管理局"}, True),
    (OFFICER, "case", "read", {"agency": "金华市税务局"}, False),
    (OFFICER, "case", "read", {}, False),
    (OFFICER, "grade_list", "read", IN, False),
    (OFFICER, "score", "read", {"subject_key": "Sabcdefghijklmnop"}, False),
    # analysts: read across industries, nothing else
    (ANALYST, "grade_list", "read", {"industry": "medical"}, True),
    (ANALYST, "organisation", "read", {"industry": "food", "region": "110105"}, True),
    (ANALYST, "justification", "read", IN, True),
    (ANALYST, "download", "export", IN, False),
    (ANALYST, "inspection_plan", "write", IN, False),
    (ANALYST, "score", "read", {"subject_key": "Sabcdefghijklmnop"}, False),
    (ANALYST, "register", "read", {}, False),
    # auditors: the register
    (AUDITOR, "register", "read", {}, True),
    (AUDITOR, "register", "export", {}, True),
    (AUDITOR, "register", "write", {}, False),
    (AUDITOR, "organisation", "read", IN, False),
    (AUDITOR, "users", "read", {}, False),
    # admins: users, no subject's data
    (ADMIN, "users", "read", {}, True),
    (ADMIN, "users", "write", {}, True),
    (ADMIN, "organisation", "read", IN, False),
    (ADMIN, "register", "read", {}, False),
    (ADMIN, "score", "read", {"subject_key": "Sabcdefghijklmnop"}, False),
    (None, "grade_list", "read", IN, False),
]


@pytest.fixture(scope="module")
def access() -> Access:
    return Access.load()


@pytest.mark.parametrize(
    ("user", "resource", "action", "ctx", "expected"),
    CASES,
    ids=[f"{u.username if u else 'anonymous'}-{r}-{a}-{i}" for i, (u, r, a, _, _) in enumerate(CASES)],
)
def test_decisions(access, user, resource, action, ctx, expected):
    assert access.allowed(user, resource, action, **ctx) is expected


def test_every_grant_follows_the_contract(access):
    """Over every role x resource x action (contexts in scope): what is granted is exactly the table."""
    wide = {
        "industry": "construction",
        "region": "330702",
        "subject_key": CITIZEN.subject_key,
        "agency": OFFICER.agency,
    }
    users = {
        "citizen": CITIZEN,
        "regulator": REG,
        "officer": OFFICER,
        "analyst": ANALYST,
        "auditor": AUDITOR,
        "admin": ADMIN,
    }
    granted = {
        (role, res, act)
        for role, u in users.items()
        for res in RESOURCES
        for act in ACTIONS
        if access.allowed(u, res, act, **wide)
    }
    expected = {
        ("citizen", "score", "read"),
        ("citizen", "case", "read"),
        ("citizen", "case", "write"),
        ("officer", "case", "read"),
        ("officer", "case", "write"),
        ("auditor", "register", "read"),
        ("auditor", "register", "export"),
        ("admin", "users", "read"),
        ("admin", "users", "write"),
        ("analyst", "grade_list", "read"),
        ("analyst", "organisation", "read"),
        ("analyst", "justification", "read"),
    } | {
        ("regulator", res, act)
        for res, act in [
            ("grade_list", "read"),
            ("grade_list", "export"),
            ("organisation", "read"),
            ("justification", "read"),
            ("download", "read"),
            ("download", "export"),
            ("inspection_plan", "read"),
            ("inspection_plan", "write"),
            ("inspection_plan", "export"),
            ("whitelist", "read"),
            ("whitelist", "export"),
        ]
    }
    assert granted == expected
    assert set(users) == set(ROLES)


def test_unknown_names_are_programming_errors(access):
    with pytest.raises(ValueError, match="unknown resource"):
        access.allowed(REG, "organisations", "read")
    with pytest.raises(ValueError, match="unknown action"):
        access.allowed(REG, "organisation", "delete")


def test_purposes(access):
    assert needs_purpose("regulator") and needs_purpose("analyst") and access.needs_purpose("analyst")
    assert not any(needs_purpose(r) for r in ("citizen", "officer", "auditor", "admin"))
    assert PURPOSES["daily_supervision"]["label_zh"] == "日常监管"
    assert "浙江省公共信用信息管理条例" in PURPOSES["daily_supervision"].legal_basis
    labels = {p.label_zh for p in PURPOSES.values()}
    assert {"日常监管", "双随机抽查", "信易贷", "信用修复/异议处理", "模型评估"} <= labels
    assert "model_evaluation" in purposes_for("analyst") and "model_evaluation" not in purposes_for("regulator")
    assert check_purpose("regulator", "random_inspection").label_zh == "双随机抽查"
    assert check_purpose("auditor", None) is None
    with pytest.raises(XinyiError, match="must give the purpose"):
        check_purpose("regulator", None)
    with pytest.raises(XinyiError, match="not a purpose a regulator may give"):
        check_purpose("regulator", "model_evaluation")


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "access"
    shutil.copytree(configs_dir() / "access", d)
    return d


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("access.yaml", "register_days: 183", "register_days: 100", "access.yaml: retention.register_days: 100 days"),
        ("access.yaml", "roles: [analyst]", "roles: [statistician]", "access.yaml: purposes.model_evaluation.roles"),
        (
            "access.yaml",
            "failures_per_username: 5",
            "failures_per_username: 0",
            "access.yaml: login.failures_per_username",
        ),
        ("access.yaml", "  min_length: 10", "  min_length: 6", "access.yaml: passwords.min_length"),
        (
            "access.yaml",
            "    label_zh: 日常监管\n",
            "",
            "access.yaml: purposes.daily_supervision.label_zh: Field required",
        ),
        (
            "access.yaml",
            "purpose_required: [regulator, analyst]",
            "purpose_required: [regulator, officer]",
            "purpose_required names 'officer'",
        ),
        ("access.yaml", "tokens:\n", "tokenz:\n", "access.yaml: tokenz: Extra inputs"),
        (
            "policy.csv",
            "p, admin, users, write, any",
            "p, admin, users, delete, any",
            "policy.csv: line 23: unknown action",
        ),
        (
            "policy.csv",
            "p, auditor, register, read, any",
            "p, auditor, registers, read, any",
            "policy.csv: line 20: unknown resource",
        ),
        (
            "policy.csv",
            "p, officer, case, read, agency",
            "p, officer, case, read, district",
            "policy.csv: line 15: unknown domain",
        ),
        ("policy.csv", "p, citizen, score, read, own", "g, citizen, admin", "policy.csv: line 1: write 'p, role"),
        ("model.conf", "[matchers]", "[matcherz]", "model.conf: section [m]"),
        ("model.conf", "m = g(r.sub.role", "m = gg(r.sub.role", "model.conf: [matchers]: cannot be evaluated"),
    ],
)
def test_invalid_access_configs_are_named_precisely(folder, file, old, new, message):
    _edit(folder / file, old, new)
    with pytest.raises(ConfigError) as e:
        Access.load(folder)
    assert message in str(e.value)


def test_a_missing_file_is_named(folder):
    (folder / "policy.csv").unlink()
    with pytest.raises(ConfigError, match="policy.csv: file not found"):
        Access.load(folder)


def test_a_policy_change_is_data_not_code(folder):
    _edit(folder / "policy.csv", "p, analyst, grade_list, read, any", "p, analyst, grade_list, read, scope")
    scoped = Access.load(folder)
    assert not scoped.allowed(ANALYST, "grade_list", "read", industry="medical")
    narrow = User(10, "ana2", "a", "analyst", industries=("medical",), regions=("*",))
    assert scoped.allowed(narrow, "grade_list", "read", industry="medical")
    assert ("grade_list", "read", "scope") in scoped.grants("analyst")


def test_scope_for_filtering_lists(access):
    assert access.scope(REG, "grade_list") == (("construction", "food"), ("330702", "330703"))
    assert access.scope(REG_ALL, "organisation") == (None, None)
    assert access.scope(ANALYST, "grade_list") == (None, None)  # across industries
    assert access.scope(ANALYST, "download", "export") == ((), ())
    assert access.scope(AUDITOR, "grade_list") == ((), ())
    assert access.scope(GONE, "grade_list") == ((), ())
    assert access.scope(None, "grade_list") == ((), ())
    assert access.scope(REG_NONE, "grade_list") == ((), ())
