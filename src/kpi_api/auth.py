"""API keys and roles: keys are shown once, stored as SHA-256 hashes, compared in constant time."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import CursorResult, Enum, ForeignKey, String, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from kpi_api.db import Base, JSONType, SessionDep, UTCDateTime, utcnow
from kpi_api.errors import Forbidden, NotFound, Unauthorized
from kpi_api.messages import Message

API_KEY_NOT_FOUND = Message(
    "api_key_not_found", "API key {key_id} does not exist.", "API-sleutel {key_id} bestaat niet."
)
INVALID_AUTHORIZATION_SCHEME = Message(
    "invalid_authorization_scheme",
    "Use `Authorization: Bearer <API key>`.",
    "Gebruik `Authorization: Bearer <API-sleutel>`.",
)
INVALID_API_KEY = Message(
    "invalid_api_key",
    "The API key is unknown or revoked.",
    "De API-sleutel is onbekend of ingetrokken.",
)
MISSING_API_KEY = Message(
    "missing_api_key",
    "This operation needs an API key.",
    "Voor deze handeling is een API-sleutel nodig.",
)
ROLE_NOT_ALLOWED = Message(
    "role_not_allowed",
    "The role {role!r} may not do this; it needs: {roles}.",
    "De rol {role!r} mag dit niet doen; hiervoor is nodig: {roles}.",
)

KEY_PREFIX = "kpi_"
_LOOKUP_LEN = 12
#: A key's last use is written at most this often: one small UPDATE a minute for a busy key,
#: not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Role(enum.StrEnum):
    publisher = "publisher"
    vendor = "vendor"
    analyst = "analyst"
    #: A municipality party to agreements: scoped to one or more municipality codes.
    municipality = "municipality"
    #: An organisation acting for itself (its agreements, its own measurements).
    organisation = "organisation"


class ApiKey(Base):
    """An API key as stored: a lookup prefix and the SHA-256 hash of the secret, its role and what
    it is scoped to (vendor, organisation or municipality codes)."""

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
    #: An organisation key's organisation (its ``vendor_id`` is the organisation's own
    #: registration, through which it submits).
    organisation_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("organisation.id"), nullable=True, index=True
    )
    #: A municipality key's municipality codes.
    municipalities: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: When the key last authenticated a request, to ``LAST_USED_RESOLUTION``; None: never.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the key's id, name and role, and its scope (vendor, organisation,
    municipality codes)."""

    key_id: str
    name: str
    role: Role
    vendor_id: str | None = None
    organisation_id: str | None = None
    municipalities: tuple[str, ...] = ()


def hash_key(raw: str) -> str:
    """The SHA-256 hex digest of a raw key (64 characters), as stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


def create_key(
    session: Session,
    *,
    name: str,
    role: Role,
    vendor_id: str | None = None,
    organisation_id: str | None = None,
    municipalities: Sequence[str] = (),
) -> tuple[ApiKey, str]:
    """Create a key; return the row and the raw secret (``kpi_`` + 43 characters), which is never
    stored or shown again.

    A vendor key names its vendor; an organisation key its organisation and the vendor that is
    the organisation's own registration (``registry.issue_key`` makes it); a municipality key
    one or more municipality codes. Other keys name none of these. Raises ``ValueError`` for a
    combination that breaks this.
    """
    if role in (Role.vendor, Role.organisation) and vendor_id is None:
        raise ValueError(f"a {role.value} key needs a vendor")
    if role not in (Role.vendor, Role.organisation) and vendor_id is not None:
        raise ValueError("only vendor and organisation keys belong to a vendor")
    if (role is Role.organisation) != (organisation_id is not None):
        raise ValueError("an organisation key needs an organisation, and only it has one")
    if (role is Role.municipality) != bool(municipalities):
        raise ValueError("a municipality key needs municipalities, and only it has them")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        lookup=raw[len(KEY_PREFIX) : len(KEY_PREFIX) + _LOOKUP_LEN],
        key_hash=hash_key(raw),
        name=name,
        role=role,
        vendor_id=vendor_id,
        organisation_id=organisation_id,
        municipalities=sorted(set(municipalities)) or None,
    )
    session.add(key)
    session.flush()
    return key, raw


def revoke_key(session: Session, *, key_id: str) -> ApiKey:
    """Revoke a key (one revoked already keeps its first revocation time); return it. Raises
    NotFound (404 ``api_key_not_found``)."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(API_KEY_NOT_FOUND, params={"key_id": key_id})
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
    return Principal(
        key_id=key.id,
        name=key.name,
        role=key.role,
        vendor_id=key.vendor_id,
        organisation_id=key.organisation_id,
        municipalities=tuple(key.municipalities or ()),
    )


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
            result = session.execute(
                update(ApiKey)
                .where(ApiKey.id.in_(due))
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
            done = cast(CursorResult[Any], result).rowcount  # an UPDATE's result has a rowcount
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
    """The principal of the request's bearer key, or None without an Authorization header; counts
    the request against the key's rate.

    Raises Unauthorized (401 ``invalid_authorization_scheme`` for another scheme,
    ``invalid_api_key`` for an unknown or revoked key) and, over the rate, 429 ``rate_limited``.
    """
    if credentials is None:
        if request.headers.get("authorization") is not None:
            raise Unauthorized(INVALID_AUTHORIZATION_SCHEME, headers=_CHALLENGE)
        return None
    principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise Unauthorized(INVALID_API_KEY, headers=_CHALLENGE)
    request.state.api_key_id = principal.key_id
    request.state.role = principal.role.value
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        limiter.check(principal.key_id)
    return principal


OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]


def require_roles(*roles: Role) -> Callable[[Principal | None], Principal]:
    """A dependency that returns the request's principal if its role is one of ``roles``. Raises
    Unauthorized (401 ``missing_api_key``) without a key, Forbidden (403 ``role_not_allowed``) for
    another role."""
    allowed = frozenset(roles)

    def dependency(principal: OptionalPrincipalDep) -> Principal:
        if principal is None:
            raise Unauthorized(MISSING_API_KEY, headers=_CHALLENGE)
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise Forbidden(ROLE_NOT_ALLOWED, params={"role": principal.role.value, "roles": names})
        return principal

    return dependency


PublisherDep = Annotated[Principal, Depends(require_roles(Role.publisher))]
VendorDep = Annotated[Principal, Depends(require_roles(Role.vendor))]
#: Who may read figures: analysts, the publisher, vendors (their own organisations' live ones),
#: municipalities (released figures of their own area).
FigureReaderDep = Annotated[
    Principal, Depends(require_roles(Role.analyst, Role.publisher, Role.vendor, Role.municipality))
]
#: Who submits measurements: vendors, and organisations for themselves.
SubmitterDep = Annotated[Principal, Depends(require_roles(Role.vendor, Role.organisation))]
#: Who reads submissions and measurements: submitters (their own) and the publisher.
SubmitterOrPublisherDep = Annotated[
    Principal, Depends(require_roles(Role.vendor, Role.organisation, Role.publisher))
]
#: Vendors (acting for their own organisations) and the publisher.
VendorOrPublisherDep = Annotated[Principal, Depends(require_roles(Role.vendor, Role.publisher))]
AnyRoleDep = Annotated[Principal, Depends(require_roles(*Role))]
