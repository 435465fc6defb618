"""The credit archive (信用档案) exchange format: two tables, ``subjects`` and ``records``.

This module is the single source of truth for the columns: their type, whether they are required,
their Chinese header (accepted as an alias on input) and meaning. ``scoring archive-format`` prints
it, the README documents it, and ingestion reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # string | date | number | boolean
    required: str  # "yes", "no", or the condition under which it is required
    zh: str
    description: str


SUBJECT_COLUMNS: tuple[Column, ...] = (
    Column(
        "subject_id",
        "string",
        "yes",
        "主体标识",
        "USCC (统一社会信用代码, GB 32100) for organisations; resident ID number (GB 11643, 18 or 15 digits) for persons",
    ),
    Column(
        "subject_type",
        "string",
        "yes",
        "主体类型",
        "person | enterprise | individual_business | social_organisation | public_institution | government_body (Chinese labels 自然人/企业/个体工商户/社会组织/事业单位/政府机构 accepted)",
    ),
    Column("name", "string", "yes", "名称", "person's or organisation's name"),
    Column(
        "industry_code",
        "string",
        "organisations",
        "行业代码",
        "GB/T 4754-2017 industry class, 4 digits; empty for persons",
    ),
    Column("region_code", "string", "yes", "行政区划代码", "GB/T 2260 administrative division code, 6 digits"),
    Column("registered_on", "date", "organisations", "登记日期", "registration (establishment) date"),
    Column(
        "legal_rep_id",
        "string",
        "no",
        "法定代表人证件号码",
        "organisations: ID number of the legal representative (法定代表人)",
    ),
    Column(
        "actual_controller_id",
        "string",
        "no",
        "实际控制人证件号码",
        "organisations: ID number of the actual controller (实际控制人)",
    ),
    Column(
        "legal_rep_since",
        "date",
        "no",
        "法定代表人任职日期",
        "organisations: the day the legal representative took office; the link counts from then. Empty: from the "
        "beginning when the organisation is new to the archive, from the export date when a later export changes it",
    ),
    Column(
        "actual_controller_since",
        "date",
        "no",
        "实际控制人起始日期",
        "organisations: the day the actual controller became so (as legal_rep_since)",
    ),
    Column(
        "address",
        "string",
        "no",
        "住所",
        "organisations: registered address (住所), shown to regulators in the serving database and inspection plans",
    ),
    Column(
        "positive_opt_out",
        "boolean",
        "no",
        "正向信息不予采集",
        "persons: true when the person asked that honours, volunteering, donations and 见义勇为 are not used (深圳条例 Art. 39); default false",
    ),
)

RECORD_COLUMNS: tuple[Column, ...] = (
    Column("record_id", "string", "yes", "记录编号", "unique id of the record at the source platform"),
    Column("subject_id", "string", "yes", "主体标识", "the subject the record belongs to (subjects.subject_id)"),
    Column("record_type", "string", "yes", "信息类型", "record type code from configs/catalog.yaml"),
    Column("event_date", "date", "yes", "决定日期", "date of the decision or event (decides the publicity regime)"),
    Column(
        "document_no",
        "string",
        "when the type requires a document",
        "文书号",
        "number of the legally effective document (决定书文号 / 案号)",
    ),
    Column("agency", "string", "yes", "认定机关", "deciding or reporting agency"),
    Column(
        "severity",
        "string",
        "when the type has severity classes",
        "严重程度",
        "minor | general | serious (轻微/一般/严重)",
    ),
    Column(
        "amount",
        "number",
        "when the type requires it",
        "金额/数量",
        "fine or contract amount in yuan, volunteer hours, donation in yuan",
    ),
    Column("grade", "string", "for evaluation results", "等级", "e.g. tax credit grade A/B/M/C/D"),
    Column(
        "related_record_id",
        "string",
        "no",
        "关联记录编号",
        "the record this one follows up, e.g. the commitment a COM_KEPT record fulfils",
    ),
    Column(
        "repaired_on",
        "date",
        "no",
        "信用修复日期",
        "date the record was repaired (信用修复); it stops counting from then",
    ),
    Column(
        "objection_raised_on",
        "date",
        "no",
        "异议提出日期",
        "date an objection (异议) was raised; the record is suspended from then",
    ),
    Column("objection_resolved_on", "date", "no", "异议处理日期", "date the objection was decided"),
    Column(
        "objection_outcome",
        "string",
        "with objection_resolved_on",
        "异议处理结果",
        "upheld (异议成立: record removed) | rejected (异议不成立: record restored)",
    ),
    Column("revoked_on", "date", "no", "撤销日期", "date the underlying decision was revoked"),
    Column("list_entry_on", "date", "list-type records", "列入日期", "date entered on the list"),
    Column(
        "list_exit_on",
        "date",
        "no",
        "移出日期",
        "date removed from the list, or the planned exit a court or agency set (e.g. an extended 失信被执行人 "
        "listing): it may lie up to 10 years after the export date and ends the listing then",
    ),
)

TABLES = {"subjects": SUBJECT_COLUMNS, "records": RECORD_COLUMNS}
#: Optional input columns kept only where they are used (the link history, scoring.archive.write
#: links_plan), not in the ``subjects`` table: a quarantined row's original values name them only
#: when given, so quarantine content keyed before they existed stays the same.
SPARSE_COLUMNS = {"subjects": ("legal_rep_since", "actual_controller_since", "address"), "records": ()}

#: Input values accepted as aliases, mapped to the stored code.
SUBJECT_TYPE_ALIASES = {
    "自然人": "person",
    "个人": "person",
    "企业": "enterprise",
    "法人": "enterprise",
    "个体工商户": "individual_business",
    "社会组织": "social_organisation",
    "事业单位": "public_institution",
    "政府机构": "government_body",
    "机关": "government_body",
}
SEVERITY_ALIASES = {"轻微": "minor", "一般": "general", "严重": "serious", "较重": "serious"}
OUTCOME_ALIASES = {"异议成立": "upheld", "成立": "upheld", "异议不成立": "rejected", "不成立": "rejected"}
TRUE_VALUES = ("true", "1", "yes", "y", "是", "t")
FALSE_VALUES = ("false", "0", "no", "n", "否", "f")


def header_map(table: str) -> dict[str, str]:
    """Map accepted headers (English names and Chinese labels) to column names."""
    out = {}
    for c in TABLES[table]:
        out[c.name] = c.name
        out[c.zh] = c.name
    return out


def detect_table(columns: list[str]) -> str | None:
    """Which archive table a file holds, from its headers."""
    names = {header_map("records").get(c.strip(), header_map("subjects").get(c.strip())) for c in columns}
    if "record_type" in names:
        return "records"
    if "subject_type" in names:
        return "subjects"
    return None


def required_columns(table: str) -> list[str]:
    """Columns a file of this table must have (values may still be conditionally required)."""
    return [c.name for c in TABLES[table] if c.required == "yes"]


def format_table(table: str) -> pd.DataFrame:
    """The format of one table as a readable table."""
    return pd.DataFrame(
        [
            {"column": c.name, "中文": c.zh, "type": c.dtype, "required": c.required, "meaning": c.description}
            for c in TABLES[table]
        ]
    )


def format_markdown() -> str:
    """Both tables as Markdown (used for the README)."""
    parts = []
    for table, cols in TABLES.items():
        parts.append(f"#### `{table}`\n")
        parts.append("| column | 中文 | type | required | meaning |")
        parts.append("|---|---|---|---|---|")
        for c in cols:
            parts.append(f"| `{c.name}` | {c.zh} | {c.dtype} | {c.required} | {c.description} |")
        parts.append("")
    return "\n".join(parts)
