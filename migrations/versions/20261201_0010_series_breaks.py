"""Series breaks: each KPI version's comparability, and figures that never mix definitions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 03:00:00

A version after the first states whether it keeps the series (minor) or breaks it (major, from
``effective_from``), with a note on the change; released cells count the organisations and
municipalities whose measurements were made under another definition (see
kpi_api.catalogue.comparability). Versions published before carry NULL: they are read as
minor, as the figures treated them until now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE ADD/DROP COLUMN (SQLite 3.35+ has both), as in 0008: a batch table copy of
# kpi_version would drop the old table, which its work fields and release members refer to.


def upgrade() -> None:
    op.add_column("kpi_version", sa.Column("comparability", sa.String(5), nullable=True))
    op.add_column("kpi_version", sa.Column("effective_from", sa.Date(), nullable=True))
    for column in ("change_note_nl", "change_note_en"):
        op.add_column(
            "kpi_version", sa.Column(column, sa.Text(), nullable=False, server_default="")
        )
    for column in ("organisations_other_definition", "municipalities_other_definition"):
        op.add_column(
            "released_figure",
            sa.Column(column, sa.Integer(), nullable=False, server_default="0"),
        )


def downgrade() -> None:
    for column in ("municipalities_other_definition", "organisations_other_definition"):
        op.drop_column("released_figure", column)
    for column in ("change_note_en", "change_note_nl", "effective_from", "comparability"):
        op.drop_column("kpi_version", column)
