from __future__ import annotations

from sqlalchemy.pool import StaticPool

from kpi_api import migrate
from kpi_api.config import Settings
from kpi_api.db import make_engine
from kpi_api.main import create_app


def test_health(client):
    assert client.get("/health").json()["status"] == "ok"


def test_ready_when_migrated(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["migration"] == migrate.head_revision()


def test_not_ready_without_migrations():
    from fastapi.testclient import TestClient

    engine = make_engine("sqlite://", poolclass=StaticPool)
    app = create_app(Settings(database_url="sqlite://"), engine=engine)
    with TestClient(app) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["migration"] is None


def test_unknown_route_is_a_problem(client):
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
    response = client.put("/v1/kpis")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
