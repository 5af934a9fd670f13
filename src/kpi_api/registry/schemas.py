"""Request and response shapes of the registry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from kpi_api.auth import Role
from kpi_api.strict import StrictModel

ORG_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
MUNICIPALITY_PATTERN = r"^GM[0-9]{4}$"


MunicipalityCode = Annotated[str, Field(pattern=MUNICIPALITY_PATTERN)]


class Strict(StrictModel):
    pass


class VendorCreate(Strict):
    name: str = Field(min_length=1, max_length=200)


class VendorRead(BaseModel):
    id: str
    name: str
    created_at: datetime
    organisations: list[str] = Field(description="Codes of the organisations it may submit for.")


class OrganisationCreate(Strict):
    code: str = Field(
        pattern=ORG_CODE_PATTERN, examples=["41150990"], description="e.g. KvK number"
    )
    name: str = Field(min_length=1, max_length=300)
    municipalities: list[MunicipalityCode] = Field(
        min_length=1, max_length=400, description="CBS codes (GM + 4 digits) it works in."
    )


class OrganisationUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    municipalities: list[MunicipalityCode] | None = Field(
        default=None, min_length=1, max_length=400
    )


class OrganisationRead(BaseModel):
    code: str
    name: str
    municipalities: list[str]
    created_at: datetime


class OrganisationPage(BaseModel):
    items: list[OrganisationRead]
    next: str | None


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    vendor_id: str | None = Field(default=None, max_length=36)
    organisation: str | None = Field(
        default=None,
        pattern=ORG_CODE_PATTERN,
        description="Role organisation: the organisation the key acts for (its code).",
    )
    municipalities: list[MunicipalityCode] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Role municipality: the municipalities the key speaks for (CBS codes).",
    )


class ApiKeyBase(BaseModel):
    id: str = Field(description="Identifier of the key (revoke with DELETE /v1/api-keys/{id}).")
    name: str
    role: Role
    vendor_id: str | None = Field(
        description="The vendor a vendor key acts for (an organisation key: the organisation's "
        "own registration, through which it submits); else null."
    )
    organisation: str | None = Field(
        default=None, description="An organisation key's organisation (code); else null."
    )
    municipalities: list[str] = Field(
        default_factory=list, description="A municipality key's municipalities; else empty."
    )
    created_at: datetime
    revoked_at: datetime | None = Field(description="When it was revoked; null while it works.")


class ApiKeyRead(ApiKeyBase):
    """A key as the publisher sees it: never its secret, nor its hash."""

    last_used_at: datetime | None = Field(
        description="When it last authenticated a request that succeeded, to within a minute "
        "(written at most once a minute); null if it has not since this was first recorded."
    )


class ApiKeyPage(BaseModel):
    items: list[ApiKeyRead]
    next: str | None


class ApiKeyCreated(ApiKeyBase):
    key: str = Field(description="The secret; shown only in this response, stored only hashed.")
