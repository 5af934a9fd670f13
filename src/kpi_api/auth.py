"""API keys and roles: keys are shown once, stored as SHA-256 hashes, compared in constant time."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Enum, ForeignKey, String, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from kpi_api.db import Base, SessionDep, UTCDateTime, utcnow
from kpi_api.errors import Forbidden, NotFound, Unauthorized

KEY_PREFIX = "kpi_"
_LOOKUP_LEN = 12
#: A key's last use is written at most this often: one small UPDATE a minute for a busy key,
#: not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Role(enum.StrEnum):
    publisher = "publisher"
    vendor = "vendor"
    analyst = "analyst"


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    lookup: Mapped[str] = mapped_column(String(_LOOKUP_LEN), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", native_enum=False, length=20))
    # A string reference: the core does not import the registry domain.
    vendor_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("vendor.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: When the key last authenticated a request, to ``LAST_USED_RESOLUTION``; None: never.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: Role
    vendor_id: str | None = None


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_key(
    session: Session, *, name: str, role: Role, vendor_id: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; return the row and the raw secret, which is never stored or shown again."""
    if role is Role.vendor and vendor_id is None:
        raise ValueError("a vendor key needs a vendor")
    if role is not Role.vendor and vendor_id is not None:
        raise ValueError("only vendor keys belong to a vendor")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        lookup=raw[len(KEY_PREFIX) : len(KEY_PREFIX) + _LOOKUP_LEN],
        key_hash=hash_key(raw),
        name=name,
        role=role,
        vendor_id=vendor_id,
    )
    session.add(key)
    session.flush()
    return key, raw


def revoke_key(session: Session, *, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist.", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def authenticate(session: Session, raw: str) -> Principal | None:
    """Return the principal for a raw key, or None when it is unknown or revoked."""
    if not raw.startswith(KEY_PREFIX) or len(raw) < len(KEY_PREFIX) + _LOOKUP_LEN:
        return None
    if "\x00" in raw:
        return None  # no key holds one, and PostgreSQL refuses a NUL even in a comparison
    lookup = raw[len(KEY_PREFIX) : len(KEY_PREFIX) + _LOOKUP_LEN]
    key = session.scalar(select(ApiKey).where(ApiKey.lookup == lookup))
    # Compare against a dummy hash when the lookup misses, so timing does not reveal it.
    expected = key.key_hash if key is not None else hash_key(secrets.token_hex(16))
    if not hmac.compare_digest(expected, hash_key(raw)) or key is None or key.revoked_at:
        return None
    _note_use(session, key)
    return Principal(key_id=key.id, name=key.name, role=key.role, vendor_id=key.vendor_id)


def _note_use(session: Session, key: ApiKey) -> None:
    """Record that the key is in use, unless that was recorded less than a minute ago.

    Best effort, in the request's transaction (a request that fails records nothing): on
    PostgreSQL a key another request is recording right now is skipped (``SKIP LOCKED``), and
    on SQLite a read-only request that cannot take the write lock at once skips it; the next
    request records it.
    """
    now = utcnow()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION)
    due = select(ApiKey.id).where(ApiKey.id == key.id, stale).with_for_update(skip_locked=True)
    try:
        with session.begin_nested():
            done = session.execute(
                update(ApiKey)
                .where(ApiKey.id.in_(due))
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
    except OperationalError:  # SQLite: another connection holds the write lock
        return
    if done:
        set_committed_value(key, "last_used_at", now)


_bearer = HTTPBearer(
    auto_error=False,
    description="API key: `Authorization: Bearer kpi_...` (create one with `kpi-api create-key`).",
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def optional_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    if credentials is None:
        if request.headers.get("authorization") is not None:
            raise Unauthorized(
                "Use `Authorization: Bearer <API key>`.",
                code="invalid_authorization_scheme",
                headers=_CHALLENGE,
            )
        return None
    principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized(
            "The API key is unknown or revoked.", code="invalid_api_key", headers=_CHALLENGE
        )
    request.state.api_key_id = principal.key_id
    request.state.role = principal.role.value
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        limiter.check(principal.key_id)
    return principal


OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]


def require_roles(*roles: Role):
    allowed = frozenset(roles)

    def dependency(principal: OptionalPrincipalDep) -> Principal:
        if principal is None:
            raise Unauthorized(
                "This operation needs an API key.", code="missing_api_key", headers=_CHALLENGE
            )
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise Forbidden(
                f"The role {principal.role.value!r} may not do this; it needs: {names}.",
                code="role_not_allowed",
            )
        return principal

    return dependency


PublisherDep = Annotated[Principal, Depends(require_roles(Role.publisher))]
VendorDep = Annotated[Principal, Depends(require_roles(Role.vendor))]
#: Who may read figures: analysts, the publisher, vendors (their own organisations' live ones).
FigureReaderDep = Annotated[
    Principal, Depends(require_roles(Role.analyst, Role.publisher, Role.vendor))
]
#: Vendors (acting for their own organisations) and the publisher.
VendorOrPublisherDep = Annotated[Principal, Depends(require_roles(Role.vendor, Role.publisher))]
AnyRoleDep = Annotated[Principal, Depends(require_roles(*Role))]
