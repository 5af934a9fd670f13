"""Response shapes of the geography reference data."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class ProvinceRead(BaseModel):
    code: str
    name: str


class MunicipalityRead(BaseModel):
    code: str
    name: str
    province: str
    valid_from: date
    valid_to: date | None = Field(description="Last valid day; null while still valid.")
    former_name: str | None
    successors: list[str] = Field(description="Codes that took this municipality over.")
