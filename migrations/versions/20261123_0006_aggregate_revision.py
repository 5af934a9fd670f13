"""Aggregate revisions per KPI and year, for figures cached per period

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "aggregate_revision",
        sa.Column("kpi_code", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kpi_code", "year", name=op.f("pk_aggregate_revision")),
    )


def downgrade() -> None:
    op.drop_table("aggregate_revision")
