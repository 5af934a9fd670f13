"""Load the canonical SWN catalogue from the data files; running it twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kpi_api.catalogue import repository as repo
from kpi_api.catalogue import service
from kpi_api.catalogue.models import (
    CodeList,
    CodeListItem,
    KpiSet,
    KpiSetMember,
    LifeDomain,
    WorkField,
)
from kpi_api.catalogue.schemas import (
    CODE_PATTERN,
    RELEASE_PATTERN,
    KpiCreate,
    KpiDefinition,
    ReleaseCreate,
)

DATA_DIR = Path(__file__).parent / "data"
LOADER_ACTOR = "canonical-catalogue-loader"


class LoaderError(Exception):
    """The data files cannot be loaded as they are."""


class _Named(BaseModel):
    code: str = Field(min_length=1, max_length=60)
    name_nl: str
    name_en: str


class _Described(_Named):
    description_nl: str = ""
    description_en: str = ""


class _CodeList(_Described):
    pattern: str | None = None
    items: list[_Named] = Field(default_factory=list)


class _KpiSet(_Described):
    work_field: str
    kpis: list[str]


class _Release(BaseModel):
    id: str = Field(pattern=RELEASE_PATTERN)
    title_nl: str
    title_en: str
    description_nl: str = ""
    description_en: str = ""
    source: str = ""


class CatalogueFiles(BaseModel):
    release: _Release
    life_domains: list[_Described]
    work_fields: list[_Named]
    code_lists: list[_CodeList]
    kpis: list[KpiCreate]
    kpi_sets: list[_KpiSet]


def _yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise LoaderError(f"cannot read {path}: {exc}") from exc


def read_files(data_dir: Path = DATA_DIR) -> CatalogueFiles:
    """Parse and validate the data files (every KPI against the catalogue rules)."""
    raw = {
        "release": _yaml(data_dir / "release.yaml"),
        "life_domains": _yaml(data_dir / "life_domains.yaml")["life_domains"],
        "work_fields": _yaml(data_dir / "work_fields.yaml")["work_fields"],
        "code_lists": _yaml(data_dir / "code_lists.yaml")["code_lists"],
        "kpis": _yaml(data_dir / "kpis.yaml")["kpis"],
        "kpi_sets": _yaml(data_dir / "kpi_sets.yaml")["kpi_sets"],
    }
    try:
        files = CatalogueFiles.model_validate(raw)
    except ValueError as exc:
        raise LoaderError(f"the catalogue files break a rule:\n{exc}") from exc
    codes = [k.code for k in files.kpis]
    if len(set(codes)) != len(codes):
        raise LoaderError("a KPI code appears twice in kpis.yaml")
    import re

    bad = [c for c in codes if not re.match(CODE_PATTERN, c)]
    if bad:
        raise LoaderError(f"malformed KPI codes: {bad}")
    return files


@dataclass
class LoadReport:
    release: str
    published: bool = False
    changes: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, n: int = 1) -> None:
        self.changes[what] = self.changes.get(what, 0) + n

    @property
    def changed(self) -> bool:
        return self.published or any(self.changes.values())


def _sync(obj: Any, values: dict[str, Any]) -> bool:
    dirty = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            dirty = True
    return dirty


def _upsert(
    session: Session, model: type, code: str, values: dict[str, Any], report: LoadReport, what: str
) -> Any:
    obj = session.get(model, code)
    if obj is None:
        obj = model(code=code, **values)
        session.add(obj)
        report.count(f"{what}_created")
    elif _sync(obj, values):
        report.count(f"{what}_updated")
    return obj


def _load_reference(session: Session, files: CatalogueFiles, report: LoadReport) -> None:
    for i, d in enumerate(files.life_domains):
        _upsert(
            session,
            LifeDomain,
            d.code,
            {**d.model_dump(exclude={"code"}), "position": i},
            report,
            "life_domains",
        )
    for i, w in enumerate(files.work_fields):
        _upsert(
            session,
            WorkField,
            w.code,
            {**w.model_dump(exclude={"code"}), "position": i},
            report,
            "work_fields",
        )
    for i, c in enumerate(files.code_lists):
        values = {**c.model_dump(exclude={"code", "items"}), "position": i}
        code_list = _upsert(session, CodeList, c.code, values, report, "code_lists")
        wanted = [(it.code, it.name_nl, it.name_en) for it in c.items]
        have = [(it.code, it.name_nl, it.name_en) for it in code_list.items]
        if wanted != have:
            code_list.items = [
                CodeListItem(code=code, name_nl=nl, name_en=en, position=pos)
                for pos, (code, nl, en) in enumerate(wanted)
            ]
            session.flush()
            if have:  # a new list's items come with its creation
                report.count("code_list_items_replaced")
    session.flush()


def _load_sets(session: Session, files: CatalogueFiles, report: LoadReport) -> None:
    for i, s in enumerate(files.kpi_sets):
        values = {
            "name_nl": s.name_nl,
            "name_en": s.name_en,
            "description_nl": s.description_nl,
            "description_en": s.description_en,
            "work_field_code": s.work_field,
            "position": i,
        }
        kpi_set = _upsert(session, KpiSet, s.code, values, report, "kpi_sets")
        have = [m.kpi_code for m in kpi_set.members]
        if have != s.kpis:
            kpi_set.members = [KpiSetMember(kpi_code=c, position=p) for p, c in enumerate(s.kpis)]
            if have:  # a new set's members come with its creation
                report.count("kpi_set_members_replaced")
    session.flush()


def _stage_kpis(session: Session, files: CatalogueFiles, report: LoadReport) -> list[str]:
    """Create drafts for every KPI whose definition differs from the current release."""
    current = repo.current_release(session)
    released = repo.release_versions(session, current.id) if current is not None else {}
    staged = []
    for k in files.kpis:
        definition = k.definition()
        kpi = repo.get_kpi(session, k.code)
        if kpi is None:
            service.create_kpi(session, data=k, actor=LOADER_ACTOR)
            staged.append(k.code)
            continue
        if (kpi.layer, kpi.life_domain_code) != (k.layer.value, k.life_domain):
            raise LoaderError(
                f"{k.code}: layer or life domain differs from the stored KPI; give it a new code"
            )
        in_release = released.get(k.code)
        if in_release is not None and KpiDefinition.from_version(in_release) == definition:
            continue
        if any(v.status == service.DRAFT for v in repo.kpi_versions(session, k.code)):
            raise LoaderError(f"{k.code}: a publisher draft is open; publish or delete it first")
        number = repo.max_version(session, k.code) + 1
        service._new_version(
            session, code=k.code, number=number, definition=definition, actor=LOADER_ACTOR
        )
        staged.append(k.code)
    return staged


def load(session: Session, files: CatalogueFiles | None = None) -> LoadReport:
    """Bring the database to the canonical catalogue; publish its release when anything changed."""
    files = files or read_files()
    report = LoadReport(release=files.release.id)
    _load_reference(session, files, report)
    existing = repo.get_release(session, files.release.id)
    if existing is not None:
        stored = repo.release_versions(session, existing.id)
        differs = sorted(
            k.code
            for k in files.kpis
            if k.code not in stored or KpiDefinition.from_version(stored[k.code]) != k.definition()
        )
        if differs or len(stored) != len(files.kpis):
            raise LoaderError(
                f"release {existing.id} is published with other content ({', '.join(differs[:5])}"
                f"{'...' if len(differs) > 5 else ''}); give the files a new release id"
            )
    else:
        staged = _stage_kpis(session, files, report)
        current = repo.current_release(session)
        in_files = {k.code for k in files.kpis}
        removed = sorted(
            set(repo.release_versions(session, current.id)) - in_files if current else set()
        )
        if staged or removed:
            service.publish_release(
                session,
                data=ReleaseCreate(
                    id=files.release.id,
                    title_nl=files.release.title_nl,
                    title_en=files.release.title_en,
                    notes=files.release.source,
                    kpis=staged,
                    remove=removed,
                ),
                actor=LOADER_ACTOR,
            )
            report.published = True
            report.count("kpi_versions_published", len(staged))
            report.count("kpis_removed", len(removed))
    _load_sets(session, files, report)
    session.flush()
    return report
