"""Covering partial index for aggregates: KPI, period type, disaggregation, period

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INCLUDE = [
    "organisation_id",
    "municipality_code",
    "period_end",
    "withdrawn",
    "value",
    "numerator",
    "denominator",
    "n",
    "kpi_version",
]


def upgrade() -> None:
    with op.batch_alter_table("measurement_version") as batch:
        batch.drop_index("ix_measurement_version_current_kpi")
        batch.create_index(
            "ix_measurement_version_current_kpi",
            ["kpi_code", "period_type", "disaggregation_key", "period_start"],
            unique=False,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
            postgresql_include=INCLUDE,
        )


def downgrade() -> None:
    with op.batch_alter_table("measurement_version") as batch:
        batch.drop_index("ix_measurement_version_current_kpi")
        batch.create_index(
            "ix_measurement_version_current_kpi",
            ["kpi_code", "disaggregation_key", "period_start"],
            unique=False,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )
