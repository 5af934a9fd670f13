"""Which roles reach the agreement endpoints; what each key may see and do inside them is
decided by the service (``repository.readable`` and the writing rules)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from kpi_api.auth import Principal, Role, require_roles

#: The parties and the publisher: vendors, organisations, municipalities read their own.
AgreementRead = Annotated[
    Principal,
    Depends(require_roles(Role.publisher, Role.vendor, Role.organisation, Role.municipality)),
]
#: The organisation side (organisation keys, their vendors) and the publisher.
AgreementWrite = Annotated[
    Principal, Depends(require_roles(Role.publisher, Role.vendor, Role.organisation))
]
#: The parties: they write the interpretation of their own figures.
AgreementExplain = Annotated[
    Principal, Depends(require_roles(Role.vendor, Role.organisation, Role.municipality))
]
