"""The committed OpenAPI document is rendered from the app, byte for byte."""

from __future__ import annotations

import json

from sqlalchemy.pool import StaticPool


def render() -> str:
    """The OpenAPI document as committed: the app's, on an in-memory database, as indented JSON
    (non-ASCII kept) ending in a newline."""
    from kpi_api.config import Settings
    from kpi_api.db import make_engine
    from kpi_api.main import create_app

    engine = make_engine("sqlite://", poolclass=StaticPool)
    app = create_app(Settings(database_url="sqlite://"), engine=engine)
    try:
        return json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    finally:
        engine.dispose()
