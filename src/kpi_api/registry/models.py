"""ORM tables of the registry."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kpi_api.db import Base, UTCDateTime, utcnow


def new_id() -> str:
    return str(uuid.uuid4())


class Vendor(Base):
    """A supplier of registration software that submits for organisations."""

    __tablename__ = "vendor"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Set for an organisation's own registration: the "vendor" through which an organisation
    #: key submits its own measurements (authorised for that organisation only).
    organisation_id: Mapped[str | None] = mapped_column(
        String(36),
        ForeignKey("organisation.id"),
        nullable=True,
        unique=True,
        index=True,
    )


class Organisation(Base):
    """A social-work organisation, known by its own code (e.g. its KvK number)."""

    __tablename__ = "organisation"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    municipalities: Mapped[list[OrganisationMunicipality]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="OrganisationMunicipality.municipality_code",
    )


class OrganisationMunicipality(Base):
    __tablename__ = "organisation_municipality"

    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True
    )
    municipality_code: Mapped[str] = mapped_column(
        ForeignKey("municipality.code"), primary_key=True
    )


class VendorOrganisation(Base):
    """The vendor may submit for the organisation."""

    __tablename__ = "vendor_organisation"

    vendor_id: Mapped[str] = mapped_column(
        ForeignKey("vendor.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
