"""Publication precision and count limit per KPI version

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:00:00

``decimals``: the decimals a published figure is rounded to; ``count_max``: the largest count
one measurement may carry. Both nullable: versions published before them keep NULL, read as
the value type's defaults (catalogue.service.published_decimals, effective_count_max).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE ADD/DROP COLUMN (SQLite 3.35+ has both): a batch table copy of kpi_version
# would drop the old table, and with foreign keys on that cascades to its work fields.


def upgrade() -> None:
    op.add_column("kpi_version", sa.Column("decimals", sa.Integer(), nullable=True))
    op.add_column("kpi_version", sa.Column("count_max", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("kpi_version", "count_max")
    op.drop_column("kpi_version", "decimals")
