"""Measurement series and versions without foreign-key triggers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 06:30:00

``measurement_series`` and ``measurement_version`` are the append-only fact tables (ten
million rows nationally, two rows per new measurement). Their six foreign keys each ran a
trigger per inserted row that looked up and locked the parent row (FOR KEY SHARE): together
about 18 µs of database time per measurement (EXPLAIN ANALYZE of a 10,000-row insert: 370 ms
with, 180 ms without), as much as the inserts themselves. Every reference is checked or made by
the one transaction that stores a batch: the organisation is authorised for the vendor, the KPI
version is published, the municipality is known, the series is found or created, the
submission is created and the vendor is the authenticated one; none of those parents is ever
deleted (a KPI can only be deleted while it has no published version, and only published
versions take measurements). ``tests/test_integrity.py`` checks every reference after
batches, corrections and withdrawals on both databases.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEYS = {
    "fk_measurement_series_kpi_code_kpi": ("measurement_series", "kpi", ["kpi_code"], ["code"]),
    "fk_measurement_series_municipality_code_municipality": (
        "measurement_series",
        "municipality",
        ["municipality_code"],
        ["code"],
    ),
    "fk_measurement_series_organisation_id_organisation": (
        "measurement_series",
        "organisation",
        ["organisation_id"],
        ["id"],
    ),
    "fk_measurement_version_series_id_measurement_series": (
        "measurement_version",
        "measurement_series",
        ["series_id"],
        ["id"],
    ),
    "fk_measurement_version_submission_id_submission": (
        "measurement_version",
        "submission",
        ["submission_id"],
        ["id"],
    ),
    "fk_measurement_version_vendor_id_vendor": (
        "measurement_version",
        "vendor",
        ["vendor_id"],
        ["id"],
    ),
}


TABLES = ("measurement_version", "measurement_series")  # children first


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for name, (child, *_) in FOREIGN_KEYS.items():
                if child == table:
                    batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            for name, (child, parent, local, remote) in FOREIGN_KEYS.items():
                if child == table:
                    batch.create_foreign_key(name, parent, local, remote)
