"""Agreements: versions, parties, agreed KPIs, explanations; municipality and organisation keys

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 18:00:00

Agreements (prestatieafspraken) are kept as immutable versions (kpi_api.agreements.models).
API keys gain the scope of the two new roles: an organisation key's organisation, a
municipality key's municipality codes. A vendor may be an organisation's own registration
(``vendor.organisation_id``), through which an organisation key submits its measurements.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kpi_api.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _add_reference(table: str, column: str, target: str) -> None:
    """A nullable column referring to ``target`` (``table.column``), named as the models name
    it. SQLite cannot add a constraint to a table, but takes REFERENCES on an added column
    (nullable, so its default is NULL); a batch copy of ``vendor`` or ``api_key`` would drop
    tables other tables refer to."""
    name = f"fk_{table}_{column}_{target.split('.')[0]}"
    if op.get_bind().dialect.name == "sqlite":
        target_table, target_column = target.split(".")
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR(36) "
            f"CONSTRAINT {name} REFERENCES {target_table} ({target_column})"
        )
        return
    op.add_column(table, sa.Column(column, sa.String(36), nullable=True))
    target_table, target_column = target.split(".")
    op.create_foreign_key(name, table, target_table, [column], [target_column])


def upgrade() -> None:
    _add_reference("api_key", "organisation_id", "organisation.id")
    op.create_index("ix_api_key_organisation_id", "api_key", ["organisation_id"])
    op.add_column(
        "api_key",
        sa.Column(
            "municipalities",
            kpi_api.db.JSONType,
            nullable=True,
        ),
    )
    _add_reference("vendor", "organisation_id", "organisation.id")
    op.create_index("ix_vendor_organisation_id", "vendor", ["organisation_id"], unique=True)

    op.create_table(
        "agreement",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", kpi_api.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement")),
    )
    op.create_index("ix_agreement_status", "agreement", ["status"])
    op.create_table(
        "agreement_version",
        sa.Column("agreement_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("work_field_code", sa.String(length=60), nullable=False),
        sa.Column("kpi_set_code", sa.String(length=60), nullable=True),
        sa.Column("term_start", sa.Date(), nullable=False),
        sa.Column("term_end", sa.Date(), nullable=False),
        sa.Column("change_note", sa.Text(), nullable=False),
        sa.Column("created_at", kpi_api.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_role", sa.String(length=20), nullable=False),
        sa.Column("created_by_party", kpi_api.db.JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreement.id"],
            name=op.f("fk_agreement_version_agreement_id_agreement"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_field_code"],
            ["work_field.code"],
            name=op.f("fk_agreement_version_work_field_code_work_field"),
        ),
        sa.PrimaryKeyConstraint("agreement_id", "version", name=op.f("pk_agreement_version")),
    )
    version_fk = {
        "columns": ["agreement_id", "version"],
        "refcolumns": ["agreement_version.agreement_id", "agreement_version.version"],
        "ondelete": "CASCADE",
    }
    op.create_table(
        "agreement_organisation",
        sa.Column("agreement_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            name=op.f("fk_agreement_organisation_agreement_id_agreement_version"), **version_fk
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_agreement_organisation_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint(
            "agreement_id", "version", "organisation_id", name=op.f("pk_agreement_organisation")
        ),
    )
    op.create_index(
        "ix_agreement_organisation_organisation_id",
        "agreement_organisation",
        ["organisation_id"],
    )
    op.create_table(
        "agreement_municipality",
        sa.Column("agreement_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.ForeignKeyConstraint(
            name=op.f("fk_agreement_municipality_agreement_id_agreement_version"), **version_fk
        ),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipality.code"],
            name=op.f("fk_agreement_municipality_municipality_code_municipality"),
        ),
        sa.PrimaryKeyConstraint(
            "agreement_id", "version", "municipality_code", name=op.f("pk_agreement_municipality")
        ),
    )
    op.create_index(
        "ix_agreement_municipality_municipality_code",
        "agreement_municipality",
        ["municipality_code"],
    )
    op.create_table(
        "agreement_kpi",
        sa.Column("agreement_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kpi_code", sa.String(length=40), nullable=False),
        sa.Column("kpi_version", sa.Integer(), nullable=False),
        sa.Column("breakdown_key", sa.String(length=130), nullable=False),
        sa.Column("goal_nl", sa.Text(), nullable=True),
        sa.Column("goal_en", sa.Text(), nullable=True),
        sa.Column("rhythm", sa.String(length=7), nullable=False),
        sa.Column("baseline_period", sa.String(length=7), nullable=True),
        sa.Column("baseline_value", sa.Float(), nullable=True),
        sa.Column("baseline_source", sa.String(length=7), nullable=True),
        sa.Column("target_period", sa.String(length=7), nullable=True),
        sa.Column("target_value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            name=op.f("fk_agreement_kpi_agreement_id_agreement_version"), **version_fk
        ),
        sa.ForeignKeyConstraint(
            ["kpi_code"], ["kpi.code"], name=op.f("fk_agreement_kpi_kpi_code_kpi")
        ),
        sa.PrimaryKeyConstraint(
            "agreement_id", "version", "position", name=op.f("pk_agreement_kpi")
        ),
        sa.UniqueConstraint(
            "agreement_id",
            "version",
            "kpi_code",
            "breakdown_key",
            name=op.f("uq_agreement_kpi_agreement_id_version_kpi_code_breakdown_key"),
        ),
    )
    op.create_table(
        "agreement_explanation",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("agreement_id", sa.String(length=36), nullable=False),
        sa.Column("kpi_code", sa.String(length=40), nullable=False),
        sa.Column("breakdown_key", sa.String(length=130), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("author_role", sa.String(length=20), nullable=False),
        sa.Column("author_key_id", sa.String(length=36), nullable=False),
        sa.Column(
            "author_party",
            kpi_api.db.JSONType,
            nullable=False,
        ),
        sa.Column("created_at", kpi_api.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreement.id"],
            name=op.f("fk_agreement_explanation_agreement_id_agreement"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_explanation")),
    )
    op.create_index(
        "ix_agreement_explanation_thread",
        "agreement_explanation",
        ["agreement_id", "kpi_code", "period"],
    )


def downgrade() -> None:
    for table in (
        "agreement_explanation",
        "agreement_kpi",
        "agreement_municipality",
        "agreement_organisation",
        "agreement_version",
        "agreement",
    ):
        op.drop_table(table)
    op.drop_index("ix_vendor_organisation_id", table_name="vendor")
    op.drop_index("ix_api_key_organisation_id", table_name="api_key")
    op.drop_column("api_key", "municipalities")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_vendor_organisation_id_organisation", "vendor", type_="foreignkey")
        op.drop_constraint("fk_api_key_organisation_id_organisation", "api_key", type_="foreignkey")
    # SQLite (3.35+) drops a column whose only constraint is its own REFERENCES clause.
    op.drop_column("vendor", "organisation_id")
    op.drop_column("api_key", "organisation_id")
