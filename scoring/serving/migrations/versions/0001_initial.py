"""The initial schema: every table of scoring/serving/schema.py.

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-02 05:50:56.737075
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column(
            "attempt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_attempts_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempts_username"), ["username"], unique=False)

    op.create_table(
        "organisations",
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("industry_code", sa.String(length=64), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("district_zh", sa.String(length=64), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("legal_rep_masked", sa.String(length=64), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_organisations")),
    )
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisations_industry_code"), ["industry_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_organisations_region_code"), ["region_code"], unique=False)

    op.create_table(
        "publications",
        sa.Column("publication_id", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("model_name", sa.String(length=160), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("model_content_version", sa.String(length=80), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("store_batch", sa.String(length=80), nullable=True),
        sa.Column("store_fingerprint", sa.String(length=80), nullable=True),
        sa.Column("config_bundle", sa.String(length=80), nullable=True),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=True),
        sa.Column("distribution", sa.JSON(), nullable=True),
        sa.Column("migration", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("publication_id", name=op.f("pk_publications")),
    )
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_publications_as_of"), ["as_of"], unique=False)
        batch_op.create_index(batch_op.f("ix_publications_scope"), ["scope"], unique=False)

    op.create_table(
        "query_register",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("what", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=True),
        sa.Column("purpose", sa.String(length=300), nullable=True),
        sa.Column("legal_basis", sa.String(length=300), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_query_register")),
    )
    with op.batch_alter_table("query_register", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_query_register_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_query_register_subject"), ["subject"], unique=False)

    op.create_table(
        "register_anchor",
        sa.Column("anchor_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("pruned_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("anchor_id", name=op.f("pk_register_anchor")),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("oidc_subject", sa.String(length=200), nullable=True),
        sa.Column("subject_key", sa.String(length=40), nullable=True),
        sa.Column("agency", sa.String(length=120), nullable=True),
        sa.Column("industries", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
        sa.UniqueConstraint("oidc_subject", name=op.f("uq_users_oidc_subject")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_tokens")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "grade_entries",
        sa.Column("publication_id", sa.String(length=160), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("industry_code", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("grade", sa.String(length=4), nullable=False),
        sa.Column("model_grade", sa.String(length=4), nullable=True),
        sa.Column("previous_grade", sa.String(length=4), nullable=True),
        sa.Column("previous_as_of", sa.Date(), nullable=True),
        sa.Column("change", sa.String(length=8), nullable=True),
        sa.Column("veto", sa.String(length=64), nullable=True),
        sa.Column("veto_zh", sa.String(length=200), nullable=True),
        sa.Column("new_entrant", sa.Boolean(), nullable=False),
        sa.Column("upgrade_capped", sa.Boolean(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("reasons_zh", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("sampling_ratio", sa.Float(), nullable=True),
        sa.Column("frequency", sa.String(length=64), nullable=True),
        sa.Column("supervision_note", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.publication_id"],
            name=op.f("fk_grade_entries_publication_id_publications"),
        ),
        sa.PrimaryKeyConstraint("publication_id", "subject_id", name=op.f("pk_grade_entries")),
    )
    with op.batch_alter_table("grade_entries", schema=None) as batch_op:
        batch_op.create_index("ix_grade_entries_list", ["publication_id", "grade"], unique=False)
        batch_op.create_index("ix_grade_entries_subject", ["subject_id", "as_of"], unique=False)

    op.create_table(
        "inspection_plans",
        sa.Column("plan_id", sa.String(length=80), nullable=False),
        sa.Column("publication_id", sa.String(length=160), nullable=False),
        sa.Column("industry_code", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("drawn_by", sa.String(length=80), nullable=False),
        sa.Column("drawn_at", sa.DateTime(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("selected", sa.Integer(), nullable=False),
        sa.Column("strata", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.publication_id"],
            name=op.f("fk_inspection_plans_publication_id_publications"),
        ),
        sa.PrimaryKeyConstraint("plan_id", name=op.f("pk_inspection_plans")),
    )
    op.create_table(
        "justifications",
        sa.Column("publication_id", sa.String(length=160), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.publication_id"],
            name=op.f("fk_justifications_publication_id_publications"),
        ),
        sa.PrimaryKeyConstraint("publication_id", "subject", name=op.f("pk_justifications")),
    )
    op.create_table(
        "score_entries",
        sa.Column("publication_id", sa.String(length=160), nullable=False),
        sa.Column("subject_key", sa.String(length=40), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("suspended_until", sa.Date(), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.publication_id"],
            name=op.f("fk_score_entries_publication_id_publications"),
        ),
        sa.PrimaryKeyConstraint("publication_id", "subject_key", name=op.f("pk_score_entries")),
    )
    with op.batch_alter_table("score_entries", schema=None) as batch_op:
        batch_op.create_index("ix_score_entries_subject", ["subject_key", "as_of"], unique=False)

    op.create_table(
        "inspection_selections",
        sa.Column("plan_id", sa.String(length=80), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("grade", sa.String(length=4), nullable=False),
        sa.Column("draw_order", sa.Integer(), nullable=False),
        sa.Column("reason_zh", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["inspection_plans.plan_id"], name=op.f("fk_inspection_selections_plan_id_inspection_plans")
        ),
        sa.PrimaryKeyConstraint("plan_id", "subject_id", name=op.f("pk_inspection_selections")),
    )


def downgrade() -> None:
    op.drop_table("inspection_selections")
    with op.batch_alter_table("score_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_score_entries_subject")

    op.drop_table("score_entries")
    op.drop_table("justifications")
    op.drop_table("inspection_plans")
    with op.batch_alter_table("grade_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_grade_entries_subject")
        batch_op.drop_index("ix_grade_entries_list")

    op.drop_table("grade_entries")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("register_anchor")
    with op.batch_alter_table("query_register", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_query_register_subject"))
        batch_op.drop_index(batch_op.f("ix_query_register_at"))

    op.drop_table("query_register")
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_publications_scope"))
        batch_op.drop_index(batch_op.f("ix_publications_as_of"))

    op.drop_table("publications")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisations_region_code"))
        batch_op.drop_index(batch_op.f("ix_organisations_industry_code"))

    op.drop_table("organisations")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempts_username"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_at"))

    op.drop_table("login_attempts")
