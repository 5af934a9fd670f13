"""Figure releases: publication moments and the figures they published

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 23:50:00

Analysts read released figures only (see kpi_api.publication). A release stores every cell it
published (values of published cells only) and what each unit contributed, so the next release
of the period can tell what changed and by whom.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kpi_api.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = kpi_api.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "figure_release",
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("period_type", sa.String(7), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("released_at", UTC, nullable=False),
        sa.Column("released_by", sa.String(200), nullable=False),
        sa.Column("min_organisations", sa.Integer(), nullable=False),
        sa.Column("min_people", sa.Integer(), nullable=False),
        sa.Column("dominance", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_figure_release")),
        sa.UniqueConstraint("period", "sequence", name=op.f("uq_figure_release_period_sequence")),
    )
    op.create_index(op.f("ix_figure_release_period"), "figure_release", ["period"])
    op.create_table(
        "figure_release_kpi",
        sa.Column("release_id", sa.String(20), nullable=False),
        sa.Column("kpi_code", sa.String(40), nullable=False),
        sa.Column("kpi_version", sa.Integer(), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("release_id", "kpi_code", name=op.f("pk_figure_release_kpi")),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["figure_release.id"],
            name=op.f("fk_figure_release_kpi_release_id_figure_release"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_figure_release_kpi_kpi_code"), "figure_release_kpi", ["kpi_code"])
    op.create_table(
        "released_figure",
        sa.Column("release_id", sa.String(20), nullable=False),
        sa.Column("kpi_code", sa.String(40), nullable=False),
        sa.Column("layer", sa.String(12), nullable=False),
        sa.Column("area", sa.String(6), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column(
            "disaggregation_key",
            sa.String(500).with_variant(sa.String(500, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("value", sa.String(40), nullable=True),
        sa.Column("numerator", sa.String(40), nullable=True),
        sa.Column("denominator", sa.String(40), nullable=True),
        sa.Column("weighted", sa.String(60), nullable=True),
        sa.Column("n", sa.String(40), nullable=True),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(30), nullable=True),
        sa.Column("organisations", sa.Integer(), nullable=False),
        sa.Column("municipalities", sa.Integer(), nullable=False),
        sa.Column("municipalities_current", sa.Integer(), nullable=False),
        sa.Column("version_min", sa.Integer(), nullable=False),
        sa.Column("version_max", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "release_id",
            "kpi_code",
            "layer",
            "area",
            "period",
            "disaggregation_key",
            name=op.f("pk_released_figure"),
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["figure_release.id"],
            name=op.f("fk_released_figure_release_id_figure_release"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_released_figure_read", "released_figure", ["kpi_code", "layer", "period", "release_id"]
    )
    op.create_table(
        "released_contribution",
        sa.Column("release_id", sa.String(20), nullable=False),
        sa.Column("kpi_code", sa.String(40), nullable=False),
        sa.Column("organisation_id", sa.String(36), nullable=False),
        sa.Column("municipality_code", sa.String(6), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("disaggregation_key", sa.String(500), nullable=False),
        sa.Column("value", sa.String(40), nullable=False),
        sa.Column("numerator", sa.String(40), nullable=False),
        sa.Column("denominator", sa.String(40), nullable=False),
        sa.Column("weighted", sa.String(60), nullable=False),
        sa.Column("n", sa.String(40), nullable=False),
        sa.Column("version_min", sa.Integer(), nullable=False),
        sa.Column("version_max", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "release_id",
            "kpi_code",
            "organisation_id",
            "municipality_code",
            "period",
            "disaggregation_key",
            name=op.f("pk_released_contribution"),
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["figure_release.id"],
            name=op.f("fk_released_contribution_release_id_figure_release"),
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("released_contribution")
    op.drop_index("ix_released_figure_read", table_name="released_figure")
    op.drop_table("released_figure")
    op.drop_table("figure_release_kpi")
    op.drop_table("figure_release")
