"""The tables of the serving database (SQLAlchemy Core), one :data:`metadata` for every module of
:mod:`scoring.serving` and for the Alembic migrations (``scoring/serving/migrations``).

Identifiers: organisations by their 统一社会信用代码 (public); persons only by ``subject_key``, the
analytical store's keyed pseudonym (:func:`scoring.core.privacy.pseudonym`), never by ID number.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

#: Constraint names fixed, so migrations read the same on SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: A big integer that SQLite still auto-increments (INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer(), "sqlite")

# -- published outputs --------------------------------------------------------------------------
publications = Table(
    "publications",
    metadata,
    Column("publication_id", String(160), primary_key=True),
    Column("kind", String(32), nullable=False),  # grade_list | score_snapshot (as in the store)
    Column("scope", String(64), nullable=False, index=True),  # industry code | persons
    Column("as_of", Date, nullable=False, index=True),
    Column("model_name", String(160), nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("model_content_version", String(80), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("store_batch", String(80)),
    Column("store_fingerprint", String(80)),
    Column("config_bundle", String(80)),
    Column("content_hash", String(80), nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("published_at", DateTime, nullable=False),
    Column("pushed_at", DateTime, nullable=False),
    Column("notes", JSON),  # the 说明 sheet: items -> text (publication id, band table, veto rules, legal basis, ...)
    Column("distribution", JSON),  # grade lists: per grade n, share, target, tolerance, within (等级分布)
    Column("migration", JSON),  # grade lists: previous grade -> grade -> n (迁移矩阵)
)

organisations = Table(
    "organisations",
    metadata,
    Column("subject_id", String(32), primary_key=True),  # USCC, public
    Column("name", String(200), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("industry_code", String(64), index=True),  # the configured industry (construction, ...), not GB/T 4754
    Column("region_code", String(6), nullable=False, index=True),
    Column("district_zh", String(64)),  # configs/regions.yaml; the code when unnamed
    Column("address", String(300)),  # 住所, when the archive has it
    Column("legal_rep_masked", String(64)),  # 法定代表人, masked name (张*); never the ID number
    Column("registered_on", Date),
    Column("updated_at", DateTime, nullable=False),
)

grade_entries = Table(
    "grade_entries",
    metadata,
    Column("publication_id", String(160), ForeignKey("publications.publication_id"), primary_key=True),
    Column("subject_id", String(32), primary_key=True),
    Column("industry_code", String(64), nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("grade", String(4), nullable=False),  # 优秀 良好 中等 较差 差
    Column("model_grade", String(4)),
    Column("previous_grade", String(4)),
    Column("previous_as_of", Date),  # the previous period's date (lists.grade_list previous_as_of)
    Column("change", String(8)),  # 持平 上升N级 下降N级 新增 (lists.grade_list)
    Column("veto", String(64)),  # veto code, empty: none
    Column("veto_zh", String(200)),
    Column("new_entrant", Boolean, nullable=False, default=False),
    Column("upgrade_capped", Boolean, nullable=False, default=False),
    Column("risk", Float, nullable=False),
    Column("score", Float),  # expected-grade score 0-100 (lists.score_of_probabilities)
    Column("probabilities", JSON, nullable=False),  # grade -> calibrated probability
    Column("reasons", JSON, nullable=False),  # [{feature, label_zh, text_zh, effect, basis, records: [...]}]
    Column("reasons_zh", Text, nullable=False, default=""),  # the list's reason_1..k, one per line
    Column("rules", Text, nullable=False, default=""),  # rules applied (lists.grade_list rules: 定级规则说明)
    Column("sampling_ratio", Float),
    Column("frequency", String(64)),
    Column("supervision_note", String(200)),
    Index("ix_grade_entries_list", "publication_id", "grade"),
    Index("ix_grade_entries_subject", "subject_id", "as_of"),
)

score_entries = Table(
    "score_entries",
    metadata,
    Column("publication_id", String(160), ForeignKey("publications.publication_id"), primary_key=True),
    Column("subject_key", String(40), primary_key=True),  # keyed pseudonym, never the ID number
    Column("as_of", Date, nullable=False),
    Column("status", String(16), nullable=False),  # scored | suspended
    Column("points", Integer),  # empty when suspended: a suspended person never gets a number
    Column("reason", Text),
    Column("suspended_until", Date),
    Column("items", JSON, nullable=False),  # line items with their records (points.wording)
    Index("ix_score_entries_subject", "subject_key", "as_of"),
)

justifications = Table(
    "justifications",
    metadata,
    Column("publication_id", String(160), ForeignKey("publications.publication_id"), primary_key=True),
    Column("subject", String(40), primary_key=True),  # USCC or subject_key
    Column("summary", JSON, nullable=False),  # model version, data snapshot, configs, band evidence, match
    Column("checked_at", DateTime, nullable=False),
)

# -- identity -----------------------------------------------------------------------------------
users = Table(
    "users",
    metadata,
    Column("user_id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("display_name", String(120), nullable=False),
    Column("role", String(16), nullable=False),  # citizen regulator officer analyst auditor admin
    Column("password_hash", String(200)),  # argon2id; empty: single sign-on only
    Column("oidc_subject", String(200), unique=True),
    Column("subject_key", String(40)),  # citizen: own data only
    Column("agency", String(120)),  # officer: the agency whose cases they handle
    Column("industries", JSON, nullable=False),  # regulator scope: industry codes ([] = none; ["*"] = all)
    Column("regions", JSON, nullable=False),  # regulator scope: region codes ([] = none; ["*"] = all)
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),  # public part of the token
    Column("user_id", BigId, ForeignKey("users.user_id"), nullable=False, index=True),
    Column("token_hash", String(128), nullable=False),  # sha256 of the secret part
    Column("name", String(120), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
    Column("revoked_at", DateTime),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("attempt_id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(80), nullable=False, index=True),
    Column("client", String(64), nullable=False),  # client address
    Column("at", DateTime, nullable=False, index=True),
    Column("ok", Boolean, nullable=False),
)

# -- 查询使用登记 ----------------------------------------------------------------------------------
query_register = Table(
    "query_register",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=False),  # 1, 2, ... in chain order
    Column("at", DateTime, nullable=False, index=True),
    Column("username", String(80), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(16), nullable=False),  # read write export download login
    Column("what", String(300), nullable=False),  # resource: page, API path, file
    Column("subject", String(40), index=True),  # USCC or keyed pseudonym; never an ID number
    Column("purpose", String(300)),
    Column("legal_basis", String(300)),
    Column("result", String(16), nullable=False),  # ok denied not_found invalid error
    Column("detail", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
)

register_anchor = Table(  # the chain's start after retention pruned older rows
    "register_anchor",
    metadata,
    Column("anchor_id", Integer, primary_key=True),
    Column("seq", BigId, nullable=False),  # the last pruned row
    Column("row_hash", String(64), nullable=False),
    Column("pruned_at", DateTime, nullable=False),
)

# -- 双随机 inspection plans ----------------------------------------------------------------------
inspection_plans = Table(
    "inspection_plans",
    metadata,
    Column("plan_id", String(80), primary_key=True),
    Column("publication_id", String(160), ForeignKey("publications.publication_id"), nullable=False),
    Column("industry_code", String(64), nullable=False),
    Column("region_code", String(6)),  # empty: the whole jurisdiction
    Column("period", String(32), nullable=False),  # e.g. 2026, 2026H1, 2026Q3
    Column("seed", BigInteger, nullable=False),
    Column("drawn_by", String(80), nullable=False),
    Column("drawn_at", DateTime, nullable=False),
    Column("population", Integer, nullable=False),
    Column("selected", Integer, nullable=False),
    Column("strata", JSON, nullable=False),  # per grade: population, ratio, selected, reason_zh
)

inspection_selections = Table(
    "inspection_selections",
    metadata,
    Column("plan_id", String(80), ForeignKey("inspection_plans.plan_id"), primary_key=True),
    Column("subject_id", String(32), primary_key=True),
    Column("grade", String(4), nullable=False),
    Column("draw_order", Integer, nullable=False),
    Column("reason_zh", String(300), nullable=False),
)

# -- the citizen portal (我的信义金): one person's archive copy, cases, notices ---------------------
# The portal computes a person's 信义金 from these rows alone (scoring.features.subject), never from
# the population and never from the analytical store: ingests and refits do not block it.
persons = Table(
    "persons",
    metadata,
    Column("subject_key", String(40), primary_key=True),  # keyed pseudonym, never the ID number
    Column("region_code", String(6), nullable=False, index=True),
    Column("name_masked", String(64)),  # 张*
    Column("positive_opt_out", Boolean, nullable=False, default=False),  # as in the archive
    Column("opt_out_from", Date),  # the portal's opt-out (深圳条例 Art. 39): effective from this date
    Column("store_batch", String(80)),  # the archive batch the rows below were copied from
    Column("updated_at", DateTime, nullable=False),
)

person_records = Table(
    "person_records",
    metadata,
    # the person's own records and those of the organisations linked to them (法定代表人/实际控制人)
    Column("subject_key", String(40), primary_key=True),  # the person whose archive copy this row is in
    Column("record_id", String(120), primary_key=True),
    Column("holder_key", String(40), nullable=False),  # whose record: the person's key or the organisation's USCC
    Column("record_type", String(64), nullable=False),
    Column("event_date", Date, nullable=False),
    Column("document_no", String(200)),
    Column("agency", String(200)),
    Column("severity", String(16)),
    Column("amount", Float),
    Column("grade", String(16)),
    Column("related_record_id", String(120)),
    Column("repaired_on", Date),
    Column("objection_raised_on", Date),
    Column("objection_resolved_on", Date),
    Column("objection_outcome", String(16)),
    Column("revoked_on", Date),
    Column("list_entry_on", Date),
    Column("list_exit_on", Date),
    Index("ix_person_records_record", "record_id"),
)

person_links = Table(
    "person_links",
    metadata,
    Column("subject_key", String(40), primary_key=True),
    Column("organisation_id", String(32), primary_key=True),  # USCC
    Column("role", String(32), primary_key=True),  # legal_rep | actual_controller
    Column("valid_from", Date, primary_key=True),
    Column("valid_to", Date),
)

score_models = Table(
    "score_models",
    metadata,
    # the card of a score publication (PointsCard.to_dict), so the portal scores without MLflow
    Column("publication_id", String(160), ForeignKey("publications.publication_id"), primary_key=True),
    Column("card", JSON, nullable=False),
    Column("feature_set", String(64), nullable=False),
)

cases = Table(
    "cases",
    metadata,
    # 信用异议 / 信用修复: submitted -> accepted | refused -> decided -> written_back -> notified
    Column("case_id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),  # objection | repair
    Column("subject_key", String(40), nullable=False, index=True),
    Column("record_id", String(120), nullable=False, index=True),
    Column("agency", String(200), nullable=False, index=True),  # 谁认定、谁处理: the record's agency
    Column("state", String(16), nullable=False, index=True),
    Column("reason", Text, nullable=False),  # the person's reason / statement
    Column("attachments", JSON, nullable=False),  # metadata only: [{name, size, sha256, content_type}]
    Column("commitment", Text),  # repair: the credit commitment (信用承诺书) text agreed to
    Column("submitted_on", Date, nullable=False),
    Column("submitted_at", DateTime, nullable=False),
    Column("working_days", Integer, nullable=False),  # the deadline in working days (extensions included)
    Column("deadline", Date, nullable=False),
    Column("officer", String(80)),
    Column("outcome", String(16)),  # objection: upheld | rejected; repair: repaired | denied
    Column("decision_reason", Text),
    Column("decided_on", Date),
    Column("batch_id", String(80)),  # the archive batch the decision was written back in
    Column("updated_at", DateTime, nullable=False),
)

case_events = Table(
    "case_events",
    metadata,
    Column("event_id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", String(40), ForeignKey("cases.case_id"), nullable=False, index=True),
    Column("at", DateTime, nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("username", String(80), nullable=False),
    Column("note", Text),
)

notices = Table(
    "notices",
    metadata,
    # what the portal tells a person: a case's outcome, a negative item before it is published
    Column("notice_id", BigId, primary_key=True, autoincrement=True),
    Column("subject_key", String(40), nullable=False, index=True),
    Column("kind", String(32), nullable=False),  # case_outcome | negative_pending
    Column("case_id", String(40)),
    Column("record_id", String(120)),
    Column("text_zh", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("read_at", DateTime),
)
