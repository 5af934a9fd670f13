"""Every table of every domain, so the ORM metadata is complete wherever sessions are used
(the app imports them through its routes; the CLI and migrations import this module)."""

from kpi_api.agreements.models import (
    Agreement,
    AgreementExplanation,
    AgreementKpi,
    AgreementMunicipality,
    AgreementOrganisation,
    AgreementVersion,
)
from kpi_api.auth import ApiKey
from kpi_api.catalogue.models import (
    CodeList,
    CodeListItem,
    Kpi,
    KpiSet,
    KpiSetMember,
    KpiVersion,
    KpiVersionWorkField,
    LifeDomain,
    Release,
    ReleaseKpi,
    WorkField,
)
from kpi_api.freshness import AggregateRevision
from kpi_api.publication.models import (
    FigureRelease,
    FigureReleaseKpi,
    ReleasedContribution,
    ReleasedFigure,
)
from kpi_api.reference.models import Municipality, MunicipalitySuccession, Province
from kpi_api.registry.models import (
    Organisation,
    OrganisationMunicipality,
    Vendor,
    VendorOrganisation,
)
from kpi_api.submissions.models import MeasurementSeries, MeasurementVersion, PeriodLock, Submission

__all__ = [
    "AggregateRevision",
    "Agreement",
    "AgreementExplanation",
    "AgreementKpi",
    "AgreementMunicipality",
    "AgreementOrganisation",
    "AgreementVersion",
    "ApiKey",
    "CodeList",
    "CodeListItem",
    "FigureRelease",
    "FigureReleaseKpi",
    "Kpi",
    "KpiSet",
    "KpiSetMember",
    "KpiVersion",
    "KpiVersionWorkField",
    "LifeDomain",
    "MeasurementSeries",
    "MeasurementVersion",
    "Municipality",
    "MunicipalitySuccession",
    "Organisation",
    "OrganisationMunicipality",
    "PeriodLock",
    "Province",
    "Release",
    "ReleaseKpi",
    "ReleasedContribution",
    "ReleasedFigure",
    "Submission",
    "Vendor",
    "VendorOrganisation",
    "WorkField",
]
