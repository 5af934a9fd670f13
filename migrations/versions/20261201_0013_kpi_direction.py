"""KPI direction: which way each KPI version should move for the better

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 21:00:00

``kpi_version.direction`` (``higher_is_better``, ``lower_is_better`` or ``none``) is how an
agreement's progress judges a KPI's figures (kpi_api.vocabulary.Direction). Versions published
before carry ``none``: they stated no direction, and a published version never changes; the
canonical release 2027.01 gives every KPI its direction in a new (minor) version.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE ADD/DROP COLUMN (SQLite 3.35+ has both), as in 0008 and 0010: a batch table
# copy of kpi_version would drop the old table, which its work fields and release members refer
# to. The server default fills the rows there are.


def upgrade() -> None:
    op.add_column(
        "kpi_version",
        sa.Column("direction", sa.String(20), nullable=False, server_default="none"),
    )


def downgrade() -> None:
    op.drop_column("kpi_version", "direction")
