"""``kpi-api create-key`` for the agreement roles, run as a user runs it."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from tests.test_cli import kpi_api


def test_municipality_and_organisation_keys_from_the_command_line(tmp_path):
    assert kpi_api(tmp_path, "migrate").returncode == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO province (code, name) VALUES ('PV27', 'Noord-Holland')"))
        for code, name in (("GM0363", "Amsterdam"), ("GM0014", "Groningen")):
            conn.execute(
                text(
                    "INSERT INTO municipality (code, name, province_code, valid_from, "
                    "current_code) VALUES (:code, :name, 'PV27', '2000-01-01', :code)"
                ),
                {"code": code, "name": name},
            )
        conn.execute(
            text(
                "INSERT INTO organisation (id, code, name, created_at) "
                "VALUES ('o-1', 'ORG-X', 'Welzijn X', '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    created = kpi_api(
        tmp_path,
        *("create-key", "--name", "Amsterdam", "--role", "municipality"),
        *("--municipality", "GM0363", "--municipality", "GM0014"),
    )
    assert created.returncode == 0, created.stderr
    assert "(GM0363, GM0014)" in created.stdout
    assert created.stdout.splitlines()[-1].startswith("kpi_")
    unknown = kpi_api(
        tmp_path, "create-key", "--name", "x", "--role", "municipality", "--municipality", "GM9999"
    )
    assert unknown.returncode == 2 and "GM9999" in unknown.stderr
    missing = kpi_api(tmp_path, "create-key", "--name", "x", "--role", "organisation")
    assert missing.returncode == 2 and "organisation" in missing.stderr
    organisation = kpi_api(
        tmp_path, "create-key", "--name", "X", "--role", "organisation", "--organisation", "ORG-X"
    )
    assert organisation.returncode == 0, organisation.stderr
    nowhere = kpi_api(
        tmp_path, "create-key", "--name", "X", "--role", "organisation", "--organisation", "NOPE"
    )
    assert nowhere.returncode == 2 and "NOPE" in nowhere.stderr
    wrong = kpi_api(
        tmp_path, "create-key", "--name", "x", "--role", "analyst", "--municipality", "GM0363"
    )
    assert wrong.returncode == 2
