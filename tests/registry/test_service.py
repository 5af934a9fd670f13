"""Registry rules called directly, without HTTP."""

from __future__ import annotations

import uuid

import pytest

from kpi_api.auth import Principal, Role, authenticate
from kpi_api.errors import Conflict, NotFound, Unprocessable
from kpi_api.registry import service
from kpi_api.registry.schemas import (
    ApiKeyCreate,
    OrganisationCreate,
    OrganisationUpdate,
    VendorCreate,
)
from kpi_api.registry.service import OrganisationInfo

PUBLISHER = Principal(key_id="p", name="publisher", role=Role.publisher)
ANALYST = Principal(key_id="a", name="analyst", role=Role.analyst)


def as_vendor(vendor_id: str) -> Principal:
    return Principal(key_id="v", name="vendor", role=Role.vendor, vendor_id=vendor_id)


def new_vendor(db, name: str | None = None) -> str:
    return service.create_vendor(
        db, data=VendorCreate(name=name or f"vendor {uuid.uuid4().hex[:8]}")
    ).id


def new_org(db, code: str, *municipalities: str) -> str:
    service.create_organisation(
        db,
        data=OrganisationCreate(
            code=code, name=f"Organisation {code}", municipalities=list(municipalities)
        ),
    )
    return service._visible_org(db, code, PUBLISHER).id


@pytest.fixture
def registry(db):
    """Vendor A may submit for ORG-1 and ORG-3; vendor B for ORG-2 and ORG-3; ORG-4 for nobody."""
    ids = {
        "ORG-1": new_org(db, "ORG-1", "GM0363"),
        "ORG-2": new_org(db, "ORG-2", "GM0014"),
        "ORG-3": new_org(db, "ORG-3", "GM0363", "GM0014", "GM0457"),
        "ORG-4": new_org(db, "ORG-4", "GM0344"),
    }
    a, b = new_vendor(db, "Vendor A"), new_vendor(db, "Vendor B")
    for code in ("ORG-1", "ORG-3"):
        service.authorise(db, vendor_id=a, code=code, grant=True)
    for code in ("ORG-2", "ORG-3"):
        service.authorise(db, vendor_id=b, code=code, grant=True)
    return {"a": a, "b": b, "ids": ids}


def test_organisations_for_vendor_returns_only_authorised_ones(db, registry):
    found = service.organisations_for_vendor(
        db,
        vendor_id=registry["a"],
        codes=["ORG-1", "ORG-2", "ORG-3", "ORG-4", "ORG-9", "ORG-1"],
    )
    assert found == {
        "ORG-1": OrganisationInfo(
            id=registry["ids"]["ORG-1"], code="ORG-1", municipalities=frozenset({"GM0363"})
        ),
        "ORG-3": OrganisationInfo(
            id=registry["ids"]["ORG-3"],
            code="ORG-3",
            municipalities=frozenset({"GM0363", "GM0014", "GM0457"}),
        ),
    }
    assert all(isinstance(info.municipalities, frozenset) for info in found.values())


def test_organisations_for_vendor_is_per_vendor(db, registry):
    found = service.organisations_for_vendor(
        db, vendor_id=registry["b"], codes=("ORG-1", "ORG-2", "ORG-3", "ORG-4")
    )
    assert set(found) == {"ORG-2", "ORG-3"}
    assert found["ORG-2"].municipalities == frozenset({"GM0014"})


def test_organisations_for_vendor_with_nothing_to_find(db, registry):
    assert service.organisations_for_vendor(db, vendor_id=registry["a"], codes=[]) == {}
    assert service.organisations_for_vendor(db, vendor_id=registry["a"], codes=iter(())) == {}
    assert service.organisations_for_vendor(db, vendor_id=registry["a"], codes=["ORG-4"]) == {}
    unknown = str(uuid.uuid4())
    assert service.organisations_for_vendor(db, vendor_id=unknown, codes=["ORG-1"]) == {}
    # A generator is consumed once and still answers correctly.
    codes = (c for c in ["ORG-1", "ORG-3"])
    assert set(service.organisations_for_vendor(db, vendor_id=registry["a"], codes=codes)) == {
        "ORG-1",
        "ORG-3",
    }


def test_organisations_for_vendor_follows_changes(db, registry):
    service.update_organisation(
        db,
        code="ORG-1",
        data=OrganisationUpdate(municipalities=["GM0599", "GM0363"]),
        principal=PUBLISHER,
    )
    service.authorise(db, vendor_id=registry["a"], code="ORG-3", grant=False)
    db.flush()
    db.expire_all()
    found = service.organisations_for_vendor(db, vendor_id=registry["a"], codes=["ORG-1", "ORG-3"])
    assert set(found) == {"ORG-1"}
    assert found["ORG-1"].municipalities == frozenset({"GM0363", "GM0599"})


def test_authorised_vendors(db, registry):
    ids = registry["ids"]
    assert service.authorised_vendors(db, ids["ORG-3"]) == {registry["a"], registry["b"]}
    assert service.authorised_vendors(db, ids["ORG-1"]) == {registry["a"]}
    assert service.authorised_vendors(db, ids["ORG-4"]) == set()


def test_authorise_is_idempotent(db, registry):
    a = registry["a"]
    assert service.authorise(db, vendor_id=a, code="ORG-1", grant=True).organisations == [
        "ORG-1",
        "ORG-3",
    ]
    assert service.authorise(db, vendor_id=a, code="ORG-4", grant=False).organisations == [
        "ORG-1",
        "ORG-3",
    ]
    assert service.authorise(db, vendor_id=a, code="ORG-1", grant=False).organisations == ["ORG-3"]
    assert service.authorise(db, vendor_id=a, code="ORG-1", grant=False).organisations == ["ORG-3"]
    with pytest.raises(NotFound) as exc:
        service.authorise(db, vendor_id=a, code="ORG-9", grant=True)
    assert exc.value.code == "organisation_not_found"
    with pytest.raises(NotFound) as exc:
        service.authorise(db, vendor_id=str(uuid.uuid4()), code="ORG-1", grant=True)
    assert exc.value.code == "vendor_not_found"


def test_list_organisations_filters_for_vendors(db, registry):
    def codes(principal, limit=50, cursor=None):
        page = service.list_organisations(db, principal=principal, limit=limit, cursor=cursor)
        return [o.code for o in page.items], page.next

    assert codes(as_vendor(registry["a"])) == (["ORG-1", "ORG-3"], None)
    assert codes(as_vendor(registry["b"])) == (["ORG-2", "ORG-3"], None)
    assert codes(as_vendor(str(uuid.uuid4()))) == ([], None)
    assert codes(PUBLISHER)[0] == ["ORG-1", "ORG-2", "ORG-3", "ORG-4"]
    assert codes(ANALYST)[0] == ["ORG-1", "ORG-2", "ORG-3", "ORG-4"]

    first, cursor = codes(as_vendor(registry["a"]), limit=1)
    assert first == ["ORG-1"] and cursor is not None
    assert codes(as_vendor(registry["a"]), limit=1, cursor=cursor) == (["ORG-3"], None)


def test_get_organisation_hides_other_vendors_organisations(db, registry):
    org = service.get_organisation(db, code="ORG-3", principal=as_vendor(registry["a"]))
    assert org.municipalities == ["GM0014", "GM0363", "GM0457"]
    for code in ("ORG-2", "ORG-4", "ORG-9"):
        with pytest.raises(NotFound) as exc:
            service.get_organisation(db, code=code, principal=as_vendor(registry["a"]))
        assert exc.value.code == "organisation_not_found"
        assert exc.value.detail == f"Organisation {code!r} does not exist."
    assert service.get_organisation(db, code="ORG-2", principal=ANALYST).code == "ORG-2"


def test_get_vendor_hides_other_vendors(db, registry):
    a, b = registry["a"], registry["b"]
    assert service.get_vendor(db, vendor_id=a, principal=as_vendor(a)).organisations == [
        "ORG-1",
        "ORG-3",
    ]
    assert service.get_vendor(db, vendor_id=b, principal=PUBLISHER).name == "Vendor B"
    for vendor_id in (b, str(uuid.uuid4())):
        with pytest.raises(NotFound) as exc:
            service.get_vendor(db, vendor_id=vendor_id, principal=as_vendor(a))
        assert exc.value.code == "vendor_not_found"


def test_list_vendors_is_sorted_by_name(db, registry):
    new_vendor(db, "AAA first")
    names = [v.name for v in service.list_vendors(db)]
    assert names == sorted(names)
    assert names[0] == "AAA first"
    assert {"Vendor A", "Vendor B"} <= set(names)


def test_create_vendor_refuses_a_taken_name(db):
    new_vendor(db, "Acme")
    with pytest.raises(Conflict) as exc:
        service.create_vendor(db, data=VendorCreate(name="Acme"))
    assert exc.value.code == "vendor_exists" and exc.value.status == 409


def test_create_organisation_rules(db):
    created = service.create_organisation(
        db,
        data=OrganisationCreate(
            code="41150990", name="Buurtwerk", municipalities=["GM0363", "GM0014", "GM0014"]
        ),
    )
    assert created.municipalities == ["GM0014", "GM0363"]
    with pytest.raises(Conflict) as exc:
        service.create_organisation(
            db,
            data=OrganisationCreate(code="41150990", name="Other", municipalities=["GM0014"]),
        )
    assert exc.value.code == "organisation_exists"
    with pytest.raises(Unprocessable) as exc:
        service.create_organisation(
            db,
            data=OrganisationCreate(
                code="41150991", name="Other", municipalities=["GM9998", "GM0014", "GM9999"]
            ),
        )
    assert exc.value.code == "municipality_unknown"
    assert [e.code for e in exc.value.errors] == ["municipality_unknown"] * 2
    assert all("GM999" in e.message for e in exc.value.errors)


def test_update_organisation_keeps_what_is_not_given(db, registry):
    renamed = service.update_organisation(
        db, code="ORG-3", data=OrganisationUpdate(name="Nieuw"), principal=PUBLISHER
    )
    assert renamed.name == "Nieuw"
    assert renamed.municipalities == ["GM0014", "GM0363", "GM0457"]
    moved = service.update_organisation(
        db,
        code="ORG-3",
        data=OrganisationUpdate(municipalities=["GM0363", "GM0344"]),
        principal=PUBLISHER,
    )
    assert moved.name == "Nieuw" and moved.municipalities == ["GM0344", "GM0363"]
    with pytest.raises(NotFound):
        service.update_organisation(
            db, code="ORG-9", data=OrganisationUpdate(name="X"), principal=PUBLISHER
        )


def test_issue_key_rules(db, registry):
    created = service.issue_key(
        db, data=ApiKeyCreate(name="k", role=Role.vendor, vendor_id=registry["a"])
    )
    principal = authenticate(db, created.key)
    assert principal is not None
    assert principal.role is Role.vendor and principal.vendor_id == registry["a"]

    for data in (
        ApiKeyCreate(name="k", role=Role.vendor),
        ApiKeyCreate(name="k", role=Role.analyst, vendor_id=registry["a"]),
        ApiKeyCreate(name="k", role=Role.publisher, vendor_id=registry["b"]),
    ):
        with pytest.raises(Unprocessable) as exc:
            service.issue_key(db, data=data)
        assert exc.value.code == "vendor_key_mismatch"
        assert [e.pointer for e in exc.value.errors] == ["/vendor_id"]

    with pytest.raises(NotFound) as exc:
        service.issue_key(
            db, data=ApiKeyCreate(name="k", role=Role.vendor, vendor_id=str(uuid.uuid4()))
        )
    assert exc.value.code == "vendor_not_found"

    revoked = service.withdraw_key(db, key_id=created.id)
    assert revoked.revoked_at is not None
    db.flush()
    assert authenticate(db, created.key) is None
    with pytest.raises(NotFound) as exc:
        service.withdraw_key(db, key_id=str(uuid.uuid4()))
    assert exc.value.code == "api_key_not_found"
