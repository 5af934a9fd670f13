"""Settings read from the environment (prefix ``KPI_API_``)."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the service, from ``KPI_API_*`` environment variables (sizes in bytes, times
    in seconds)."""

    model_config = SettingsConfigDict(env_prefix="KPI_API_", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'kpi-api.db'}",
        description=(
            "SQLAlchemy URL: a SQLite file by default; postgresql+psycopg://... in production."
        ),
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_batch_rows: int = Field(default=10_000, ge=1)
    aggregate_min_organisations: int = Field(
        default=2, ge=1, description="Suppress cells built on fewer organisations."
    )
    aggregate_min_people: int = Field(
        default=10, ge=0, description="Suppress cells resting on fewer people."
    )
    aggregate_dominance: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Suppress cells where one organisation gives more than this share "
        "(of the value, the denominator or n); 1 turns the rule off.",
    )
    aggregate_cache_rows: int = Field(
        default=2_000_000,
        ge=0,
        description="Cells of live linked tables kept per process until their data change, "
        "~200 bytes each (0: no cache). A national KPI-year holds up to ~150,000.",
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=0, description="Requests per minute per API key (0: no limit)."
    )
    rate_limit_burst: int = Field(default=120, ge=1, description="Requests a key may burst.")
    max_concurrent_requests: int = Field(
        default=16,
        ge=1,
        description="Requests a worker serves at once; the rest wait in line. Its database "
        "pool holds as many connections (plus a few spare) and its thread pool as many threads "
        "(plus a few), so an admitted request never waits for either.",
    )
    max_concurrent_per_client: int = Field(
        default=4,
        ge=1,
        description="Requests one client (API key, or address without a key) is served at "
        "once per worker; its others wait, and a freed slot goes first to the client with the "
        "fewest in flight, so one client's burst leaves room for everyone else.",
    )
    max_queued_requests: int = Field(
        default=500,
        ge=0,
        description="Requests a worker lets wait in line; more answer 503 with Retry-After "
        "at once.",
    )
    queue_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a request waits in line before it answers 503 with Retry-After.",
    )
    database_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How long a request waits for a database connection (and on SQLite for "
        "the write lock) before it answers 503 `database_busy` with Retry-After.",
    )
    secret_key: str | None = Field(
        default=None,
        min_length=16,
        description="Signs pagination cursors; the same on every worker and instance. Unset: "
        "a random key per process (`kpi-api serve` shares one with its workers), so cursors "
        "do not survive a restart.",
    )


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once (``get_settings.cache_clear()`` reads them again)."""
    return Settings()
