"""Load the canonical SWN catalogue from the data files; running it twice changes nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
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
    Comparability,
    ComparabilityStatement,
    Direction,
    KpiCreate,
    KpiDefinition,
    ReleaseCreate,
)
from kpi_api.errors import Unprocessable

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


class KpiChangeEntry(BaseModel):
    """A change a release made to a KPI: its comparability and the fields as they were."""

    release: str = Field(pattern=RELEASE_PATTERN)
    comparability: Comparability
    effective_from: date | None = None
    change_note_nl: str = ""
    change_note_en: str = ""
    before: dict[str, Any] = Field(
        min_length=1, description="The changed fields as the version before had them."
    )


class KpiEntry(KpiCreate):
    """A KPI as the newest release has it, and the changes releases made to it (oldest
    first): the definition at an earlier release is this one with later changes undone."""

    # The canonical catalogue states every KPI's direction, ``none`` too (the API defaults it).
    direction: Direction
    changes: list[KpiChangeEntry] = Field(default_factory=list)

    def definition(self) -> KpiDefinition:
        return KpiDefinition.model_validate(
            self.model_dump(exclude={"code", "layer", "life_domain", "changes"})
        )

    def definition_at(self, position: dict[str, int], release: str) -> KpiDefinition:
        """The definition as release ``release`` published it."""
        data = self.definition().model_dump(mode="json")
        for change in reversed(self.changes):
            if position[change.release] > position[release]:
                data.update(change.before)
        return KpiDefinition.model_validate(data)


class CatalogueFiles(BaseModel):
    releases: list[_Release] = Field(min_length=1, description="Oldest first.")
    life_domains: list[_Described]
    work_fields: list[_Named]
    code_lists: list[_CodeList]
    kpis: list[KpiEntry]
    kpi_sets: list[_KpiSet]

    @property
    def release(self) -> _Release:
        """The newest release: the files as they are."""
        return self.releases[-1]

    @property
    def position(self) -> dict[str, int]:
        return {r.id: i for i, r in enumerate(self.releases)}


def _yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise LoaderError(f"cannot read {path}: {exc}") from exc


def read_files(data_dir: Path = DATA_DIR) -> CatalogueFiles:
    """Parse and validate the data files (every KPI against the catalogue rules)."""
    raw = {
        "releases": _yaml(data_dir / "release.yaml")["releases"],
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
    bad = [c for c in codes if not re.match(CODE_PATTERN, c)]
    if bad:
        raise LoaderError(f"malformed KPI codes: {bad}")
    position = files.position
    for k in files.kpis:
        order = [position.get(c.release, -1) for c in k.changes]
        if order and (min(order) < 1 or order != sorted(set(order))):
            raise LoaderError(
                f"{k.code}: each change names a later release of release.yaml, oldest first"
            )
        try:
            for r in files.releases:
                k.definition_at(position, r.id)
        except ValueError as exc:
            raise LoaderError(f"{k.code}: an earlier definition breaks a rule:\n{exc}") from exc
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
    session: Session,
    model: type[Any],
    code: str,
    values: dict[str, Any],
    report: LoadReport,
    what: str,
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
        removed = sorted({h[0] for h in have} - {w[0] for w in wanted})
        if removed and repo.code_list_in_use(session, c.code):
            raise LoaderError(
                f"code list {c.code}: codes {', '.join(removed)} removed while published KPI "
                "versions use it; a removed code breaks their series: give those KPIs a new "
                "code list in a major version (added codes and new names are fine)"
            )
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


def _stage_kpis(
    session: Session, files: CatalogueFiles, release_id: str, report: LoadReport
) -> list[str]:
    """Create drafts for every KPI whose definition at ``release_id`` differs from the current
    release."""
    current = repo.current_release(session)
    released = repo.release_versions(session, current.id) if current is not None else {}
    staged = []
    position = files.position
    for k in files.kpis:
        definition = k.definition_at(position, release_id)
        kpi = repo.get_kpi(session, k.code)
        if kpi is None:
            service.create_kpi(
                session,
                data=KpiCreate(
                    code=k.code,
                    layer=k.layer,
                    life_domain=k.life_domain,
                    **definition.model_dump(),
                ),
                actor=LOADER_ACTOR,
            )
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


def _statements(files: CatalogueFiles, release_id: str, staged: list[str]) -> list[Any]:
    """What the files say about the comparability of the versions staged for a release."""
    out = []
    for k in files.kpis:
        for change in k.changes:
            if change.release == release_id and k.code in staged:
                out.append(
                    ComparabilityStatement(
                        kpi=k.code,
                        comparability=change.comparability,
                        effective_from=change.effective_from,
                        change_note_nl=change.change_note_nl,
                        change_note_en=change.change_note_en,
                    )
                )
    return out


def _load_release(
    session: Session, files: CatalogueFiles, release_id: str, report: LoadReport
) -> None:
    position = files.position
    meta = files.releases[position[release_id]]
    existing = repo.get_release(session, release_id)
    if existing is not None:
        stored = repo.release_versions(session, existing.id)
        differs = sorted(
            k.code
            for k in files.kpis
            if k.code not in stored
            or KpiDefinition.from_version(stored[k.code]) != k.definition_at(position, release_id)
        )
        if differs or len(stored) != len(files.kpis):
            raise LoaderError(
                f"release {existing.id} is published with other content ({', '.join(differs[:5])}"
                f"{'...' if len(differs) > 5 else ''}); give the files a new release id and "
                "record each KPI's change under its `changes`"
            )
        return
    staged = _stage_kpis(session, files, release_id, report)
    current = repo.current_release(session)
    in_files = {k.code for k in files.kpis}
    removed = sorted(
        set(repo.release_versions(session, current.id)) - in_files if current else set()
    )
    if not staged and not removed:
        return
    try:
        service.publish_release(
            session,
            data=ReleaseCreate(
                id=release_id,
                title_nl=meta.title_nl,
                title_en=meta.title_en,
                notes=meta.source,
                kpis=staged,
                remove=removed,
                comparability=_statements(files, release_id, staged),
            ),
            actor=LOADER_ACTOR,
        )
    except Unprocessable as exc:
        details = "; ".join(e.message for e in exc.errors or []) or exc.detail
        raise LoaderError(f"release {release_id} cannot be published: {details}") from exc
    report.published = True
    report.count("kpi_versions_published", len(staged))
    report.count("kpis_removed", len(removed))


def load(session: Session, files: CatalogueFiles | None = None) -> LoadReport:
    """Bring the database to the canonical catalogue: publish each release of the files that
    is not there yet, oldest first (a new database gets the whole history)."""
    files = files or read_files()
    report = LoadReport(release=files.release.id)
    _load_reference(session, files, report)
    for meta in files.releases:
        _load_release(session, files, meta.id, report)
    _load_sets(session, files, report)
    session.flush()
    return report
