"""Repeat series keys on measurement versions for aggregation; today's municipality codes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_COLUMNS = [
    ("organisation_id", sa.String(length=36)),
    ("kpi_code", sa.String(length=40)),
    ("period_type", sa.String(length=7)),
    ("period_start", sa.Date()),
    ("period_end", sa.Date()),
    ("municipality_code", sa.String(length=6)),
    ("disaggregation_key", sa.String(length=500)),
]


def upgrade() -> None:
    with op.batch_alter_table("measurement_version") as batch:
        for name, type_ in KEY_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    names = [name for name, _ in KEY_COLUMNS]
    select = "(SELECT s.{0} FROM measurement_series s WHERE s.id = measurement_version.series_id)"
    assignments = ", ".join(f"{n} = {select.format(n)}" for n in names)
    op.execute(f"UPDATE measurement_version SET {assignments}")  # noqa: S608 - fixed names
    with op.batch_alter_table("measurement_version") as batch:
        for name, type_ in KEY_COLUMNS:
            batch.alter_column(name, existing_type=type_, nullable=False)
        batch.create_index(
            "ix_measurement_version_current_kpi",
            ["kpi_code", "disaggregation_key", "period_start"],
            unique=False,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )
        batch.create_index(
            "ix_measurement_version_kpi_created", ["kpi_code", "created_at"], unique=False
        )
    with op.batch_alter_table("municipality") as batch:
        batch.add_column(sa.Column("current_code", sa.String(length=6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("municipality") as batch:
        batch.drop_column("current_code")
    with op.batch_alter_table("measurement_version") as batch:
        batch.drop_index("ix_measurement_version_kpi_created")
        batch.drop_index("ix_measurement_version_current_kpi")
        for name, _ in reversed(KEY_COLUMNS):
            batch.drop_column(name)
