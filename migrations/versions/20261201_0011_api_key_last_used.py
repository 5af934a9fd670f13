"""API keys: when each was last used

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:00:00

``GET /v1/api-keys`` shows when a key last authenticated a request, written at most once a
minute per key (kpi_api.auth). Keys issued before read NULL until their next use.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kpi_api.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE ADD/DROP COLUMN (SQLite 3.35+ has both), as in 0008 and 0010: a nullable
# column needs no batch copy of the table.


def upgrade() -> None:
    op.add_column(
        "api_key",
        sa.Column("last_used_at", kpi_api.db.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("api_key", "last_used_at")
