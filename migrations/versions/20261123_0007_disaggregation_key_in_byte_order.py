"""Disaggregation keys of versions compared in byte order (COLLATE "C") on PostgreSQL

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 07:00:00

A breakdown by one dimension selects the keys ``dimension=code``: a prefix. In byte order that
prefix is a range the aggregate index can seek (``dimension=`` < key < ``dimension>``), instead
of reading every breakdown of the KPI; under a linguistic collation (a database created with
en_US.UTF-8, say) it is not. The keys are codes, never shown sorted to people, so byte order is
the right one whatever the database's collation. SQLite compares text in byte order already.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "measurement_version",
        "disaggregation_key",
        type_=sa.String(length=500, collation="C"),
        existing_nullable=False,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "measurement_version",
        "disaggregation_key",
        type_=sa.String(length=500),
        existing_nullable=False,
    )
