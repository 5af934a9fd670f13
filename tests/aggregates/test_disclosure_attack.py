"""An independent attacker against published figures (issue 11), black box over HTTP.

Vendors send ACT-01 (a flow count) for one year through ``POST /v1/submissions``: several
organisations per municipality and some municipalities with one, in three provinces, each
organisation reporting months or quarters throughout, its total beside its breakdowns (age
band, gender), small values so that many cells are hidden, and a municipality that merged
since (Weesp into Amsterdam, Beemster into Purmerend) so that ``boundaries=current`` differs
from ``reported``. The publisher releases the year (``POST /v1/figure-releases``); then some
organisations correct figures, one withdraws a month and a new organisation sends its first
batch, and the publisher releases the year again.

The test collects every answer an analyst can get (every level, period type, breakdown and
boundaries, each release and the latest, ``as_of``) and vendors' live views of their own
organisations, and checks, with `tests.aggregates.attack` (exact rational linear algebra,
no floats), in subtests:

- answers: each published figure is the exact sum of what was sent, a whole number in JSON,
  on at least the threshold of organisations and people; hidden cells show no number; every
  cell with data is answered; analysts read released figures only (nothing before the first
  release, the previous release while new data wait, also ``as_of``), the latest answer is
  the last release, and a release never changes;
- relations: every additive relation between published figures holds exactly;
- vendor views: a vendor's live figures hold its own organisations only;
- disclosure (the contract of issue 11): within each release no hidden cell is determined
  by the published figures, and no cell whose part of the other organisations would have
  been hidden is determined for a vendor that knows what it sent; between releases, no
  change of a cell resting on fewer organisations than the threshold is determined in both;
- textbook form: the same proof with the hidden cells as unknowns and the relations between
  cells as equations (a cross-check of the attacker);
- stronger attacker: no single organisation's own part of a cell (the only quarterly
  reporter among monthly ones, the only one of a province without an age breakdown) is
  determined, nor anything above by an attacker who knows which measurements changed
  between releases (but not their values).

The same attack runs as a hypothesis property on random registries and data.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kpi_api.auth import Role, create_key
from kpi_api.registry import service as registry
from kpi_api.registry.schemas import OrganisationCreate, VendorCreate
from tests.aggregates.attack import (
    DIMENSIONS,
    Answers,
    CellKey,
    Finding,
    Geography,
    Knowledge,
    Measure,
    Model,
    Org,
    Release,
    Span,
    State,
    Thresholds,
    apply,
    attack,
    collect,
    corrections,
    determined_unknowns,
    first_batch,
    relations,
    request_rows,
)

SHOW = 12  # problems shown per failing check


def fail_if(problems: Sequence[object], what: str) -> None:
    if problems:
        shown = "\n".join(str(p) for p in problems[:SHOW])
        more = f"\n... and {len(problems) - SHOW} more" if len(problems) > SHOW else ""
        pytest.fail(f"{what}: {len(problems)}\n{shown}{more}", pytrace=False)


# --- the attacker itself: it must be able to fail ----------------------------------------------


def test_a_total_and_one_of_two_parts_give_the_other_part_away():
    """Textbook form: T = A + B with T = 10 and A = 4 published, B hidden: B = 6."""
    equations = [{"T": 1, "A": -1, "B": -1}]
    assert determined_unknowns(equations, {"T": 10, "A": 4}) == {"B": 6}
    # With A hidden too, neither is determined.
    assert determined_unknowns(equations, {"T": 10}) == {}


def test_four_hidden_cells_in_a_rectangle_are_safe_three_are_not():
    """A 2 x 2 table with its margins: hiding the four inner cells determines none of them
    (each could move by +d/-d around the rectangle); hiding three determines all three."""
    inner = {(r, c) for r in "xy" for c in "uv"}
    equations = [{("row", r): 1, **{(r, c): -1 for c in "uv"}} for r in "xy"] + [
        {("col", c): 1, **{(r, c): -1 for r in "xy"}} for c in "uv"
    ]
    values = {("x", "u"): 3, ("x", "v"): 5, ("y", "u"): 7, ("y", "v"): 11}
    margins = {("row", "x"): 8, ("row", "y"): 18, ("col", "u"): 10, ("col", "v"): 16}
    assert determined_unknowns(equations, margins) == {}
    known = margins | {("y", "v"): 11}
    assert determined_unknowns(equations, known) == {k: values[k] for k in inner - {("y", "v")}}


def test_span_keeps_reduced_row_echelon_form_with_exact_fractions():
    span = Span()
    assert span.add({"a": 2, "b": 1}, 5)
    assert span.add({"a": 1, "b": 3}, 5)
    assert not span.add({"a": 3, "b": 4}, 10)  # the sum of the two: nothing new
    rows = {p: (row, rhs) for p, row, rhs in span.rref()}
    assert all(len(row) == 1 for row, _ in rows.values())  # full rank: the unit vectors
    assert {p: rhs for p, (_, rhs) in rows.items()} == {"a": 2, "b": 1}
    third = Span()
    third.add({"a": 3, "b": 1}, 1)
    hit, value, _ = third.determines({"a": 6, "b": 2})
    assert hit and value == 2
    hit, value, _ = Span().determines({"a": 1})
    assert not hit
    fractional = Span()
    fractional.add({"x": 3}, 1)
    assert fractional.determines({"x": 1})[1] == Fraction(1, 3)


def _dense_rank(rows: list[list[Fraction]]) -> int:
    """Rank by plain Gaussian elimination, written separately from `Span`."""
    m = [list(r) for r in rows]
    rank, cols = 0, len(m[0]) if m else 0
    for c in range(cols):
        pivot = next((i for i in range(rank, len(m)) if m[i][c] != 0), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        for i in range(len(m)):
            if i != rank and m[i][c] != 0:
                f = m[i][c] / m[rank][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[rank], strict=True)]
        rank += 1
    return rank


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    rows=st.lists(st.lists(st.integers(-2, 2), min_size=5, max_size=5), min_size=0, max_size=6),
    target=st.lists(st.integers(-2, 2), min_size=5, max_size=5),
)
def test_span_membership_agrees_with_dense_rank(rows, target):
    span = Span()
    for row in rows:
        span.add({i: x for i, x in enumerate(row)}, 0)
    as_fractions = [[Fraction(x) for x in r] for r in rows]
    rank = _dense_rank(as_fractions) if rows else 0
    assert len(span) == rank
    within = _dense_rank([*as_fractions, [Fraction(x) for x in target]]) == rank
    assert span.determines({i: x for i, x in enumerate(target) if x})[0] == within


TOY_GEOGRAPHY = Geography.from_items(
    [
        {"code": c, "province": p, "valid_from": "2019-01-01", "valid_to": t, "successors": s}
        for c, p, t, s in (
            ("GM0001", "PV90", None, []),
            ("GM0002", "PV90", None, []),
            ("GM0003", "PV91", "2021-12-31", ["GM0004"]),
            ("GM0004", "PV91", None, []),
        )
    ]
)


def _toy(orgs: Mapping[str, tuple[str, str, int]]) -> State:
    """{org: (municipality, quarter, value)} as total rows."""
    return {Measure(o, m, p, None): v for o, (m, p, v) in orgs.items()}


def _naive_release(model: Model, k: int, th: Thresholds, *, hide: Iterable[CellKey] = ()):
    """Primary suppression only, as a careless publisher would do it."""
    hidden = set(hide)
    out = Release()
    for ck in model.cells(k):
        if ck in hidden or th.would_hide(model.contributions(k, ck)):
            out.hidden.add(ck)
        else:
            out.published[ck] = model.truth(k, ck)
    return out


def _whats(tiers) -> set[tuple[str, str, str]]:
    return {
        (tier, f.who, f.what) for tier, fs in tiers.items() for f in fs if isinstance(f, Finding)
    }


def test_the_attack_finds_a_cell_given_away_by_subtraction():
    """One organisation alone in GM0001, two in GM0002, both in province PV90: primary
    suppression alone hides GM0001 but publishes the province and GM0002, whose difference
    is GM0001. The attack finds it, with the published cells that give it away and its
    value; hiding GM0002 as well (the complement) leaves nothing to find for the analyst."""
    th = Thresholds(2, 10)
    state = _toy(
        {
            "A": ("GM0001", "2021-Q1", 7),
            "B": ("GM0002", "2021-Q1", 12),
            "C": ("GM0002", "2021-Q1", 15),
            "D": ("GM0004", "2021-Q1", 20),
            "E": ("GM0004", "2021-Q1", 20),
        }
    )
    model = Model(TOY_GEOGRAPHY, 2021, [state])
    careless = _naive_release(model, 0, th)
    findings = attack(model, [careless], th, {})["contract"]
    (hit,) = [
        f
        for f in findings
        if "r1 GM0001/2021-Q1/total/reported (hidden)" in [f.target, *f.same]
        and f.what == "hidden cell determined"
    ]
    assert hit.value == hit.truth == 7
    shown = str(hit)  # with the published cells that give it away
    assert "r1 PV90/2021-Q1/total/current [34]" in shown
    assert "-1 * r1 GM0002/2021-Q1/total/current [27]" in shown

    careful = _naive_release(
        model,
        0,
        th,
        hide=[
            CellKey(b, "GM0002", p, None)
            for b in ("reported", "current")
            for p in ("2021", "2021-Q1")
        ],
    )
    assert attack(model, [careful], th, {}) == {"contract": [], "stronger": []}


def test_the_attack_finds_what_a_vendor_and_a_second_release_give_away():
    """A vendor that owns one of two organisations of a published cell subtracts itself;
    a cell published in two releases between which one organisation corrected its figure
    gives that correction away; a merged municipality published under current boundaries
    gives away what is hidden under reported ones."""
    th = Thresholds(2, 10)
    first = _toy(
        {
            "A": ("GM0001", "2021-Q1", 7),
            "B": ("GM0001", "2021-Q1", 12),
            "C": ("GM0003", "2021-Q1", 4),
            "D": ("GM0004", "2021-Q1", 20),
            "E": ("GM0004", "2021-Q1", 20),
        }
    )
    second = apply(first, {Measure("B", "GM0001", "2021-Q1", None): 13})
    model = Model(TOY_GEOGRAPHY, 2021, [first, second])
    releases = [_naive_release(model, k, th) for k in (0, 1)]
    whats = _whats(attack(model, releases, th, {"vendor-of-A": frozenset({"A"})}))
    change = "a change resting on B determined"
    assert ("contract", "analyst, releases 1 and 2", change) in whats
    minus = "cell minus own organisations = B (12 people), which would have been hidden"
    assert ("contract", "vendor vendor-of-A, release 1", minus) in whats
    # GM0003 (one organisation) is hidden under reported boundaries; under current ones it
    # is part of GM0004, but GM0004 itself is published under reported ones.
    assert ("contract", "analyst, release 1", "hidden cell determined") in whats


def test_the_attack_finds_a_quarterly_reporter_among_monthly_ones():
    """Q1 of a municipality - its three months = the one organisation that reports quarters."""
    th = Thresholds(2, 10)
    state: State = {}
    for org in ("A", "B"):
        for month in ("2021-01", "2021-02", "2021-03"):
            state[Measure(org, "GM0001", month, None)] = 10
    state[Measure("Q", "GM0001", "2021-Q1", None)] = 25
    state |= {Measure(o, "GM0002", "2021-Q1", None): 30 for o in ("X", "Y")}
    model = Model(TOY_GEOGRAPHY, 2021, [state])
    whats = _whats(attack(model, [_naive_release(model, 0, th)], th, {}))
    assert ("stronger", "analyst, release 1", "Q's own part of a cell determined") in whats
    assert not [w for w in whats if w[0] == "contract"]


def test_generated_batches_are_consistent():
    """Totals equal the sum of each breakdown; every organisation keeps one grain."""
    rng = random.Random(1)
    org = Org("X", "V", ("GM0363", "GM0457"), "quarter", DIMENSIONS)
    state = first_batch(rng, org, 2021)
    assert {m.period for m in state} == {f"2021-Q{q}" for q in range(1, 5)}
    for muni in org.munis:
        for period in {m.period for m in state}:
            unit = {m: v for m, v in state.items() if (m.muni, m.period) == (muni, period)}
            total = unit[Measure("X", muni, period, None)]
            for dim in DIMENSIONS:
                assert sum(v for m, v in unit.items() if m.kind and m.kind[0] == dim) == total
    change = corrections(rng, state, [org], 3, withdraw=True)
    assert any(v is None for v in change.values())


# --- through HTTP -------------------------------------------------------------------------------


@pytest.fixture
def app(app):
    """The suite's app without per-key rate limits: the attacker asks hundreds of questions
    with one key (a patient attacker would just wait)."""
    app.state.rate_limiter = None
    return app


@pytest.fixture
def geography(client) -> Geography:
    response = client.get("/v1/municipalities")
    assert response.status_code == 200, response.text
    return Geography.from_items(response.json()["items"])


@dataclass
class Scenario:
    kpi: str
    year: int
    orgs: list[Org]  # in the first batch
    late: list[Org]  # a first batch after the first release
    rounds: list[dict[Measure, int | None]] = field(default_factory=list)

    @property
    def everyone(self) -> list[Org]:
        return self.orgs + self.late

    def states(self) -> list[State]:
        out, state = [], {}
        for change in self.rounds:
            state = apply(state, change)
            out.append(state)
        return out

    def vendors(self) -> dict[str, frozenset[str]]:
        out: dict[str, set[str]] = {}
        for org in self.everyone:
            out.setdefault(org.vendor, set()).add(org.code)
        return {v: frozenset(o) for v, o in out.items()}


def make_rounds(rng: random.Random, s: Scenario, *, extra_round: bool = False) -> None:
    """Round 1: everyone's first batch. Round 2: corrections by a few organisations, one
    withdrawn unit, and the late organisations' first batch. Optionally a third round of
    corrections only."""
    first: dict[Measure, int | None] = {}
    for org in s.orgs:
        first |= first_batch(rng, org, s.year)
    s.rounds = [first]
    state = apply({}, first)
    second = corrections(rng, state, rng.sample(s.orgs, min(3, len(s.orgs))), 4, withdraw=True)
    for org in s.late:
        second |= first_batch(rng, org, s.year)
    s.rounds.append(second)
    if extra_round:
        state = apply(state, second)
        s.rounds.append(corrections(rng, state, rng.sample(s.everyone, 1), 2))


def register(db, scenario: Scenario) -> dict[str, dict[str, str]]:
    """The registry: vendors, organisations and a vendor key each; keys by vendor name."""
    headers = {}
    for name, orgs in sorted(scenario.vendors().items()):
        vendor = registry.create_vendor(db, data=VendorCreate(name=name))
        for org in scenario.everyone:
            if org.code in orgs:
                registry.create_organisation(
                    db,
                    data=OrganisationCreate(
                        code=org.code, name=f"{org.code} welzijn", municipalities=list(org.munis)
                    ),
                )
                registry.authorise(db, vendor_id=vendor.id, code=org.code, grant=True)
        _, raw = create_key(db, name=f"{name} key", role=Role.vendor, vendor_id=vendor.id)
        headers[name] = {"Authorization": f"Bearer {raw}"}
    db.commit()
    return headers


def send(client, scenario: Scenario, keys, change: Mapping[Measure, int | None]) -> None:
    vendor_of = {o.code: o.vendor for o in scenario.everyone}
    by_vendor: dict[str, dict[Measure, int | None]] = {}
    for m, v in change.items():
        by_vendor.setdefault(vendor_of[m.org], {})[m] = v
    for vendor, rows in sorted(by_vendor.items()):
        response = client.post(
            "/v1/submissions",
            json={"measurements": request_rows(scenario.kpi, rows)},
            headers=keys[vendor],
        )
        assert response.status_code == 201, response.text


def same_answers(a: Answers, b: Answers) -> list[str]:
    """Differences between two sets of answers, over what both asked for."""
    fields = ("value", "suppressed", "numerator", "denominator", "n")
    out = []
    keys = {ck for ck in a.cells if b.covers(ck)} | {ck for ck in b.cells if a.covers(ck)}
    for ck in sorted(keys, key=CellKey.order):
        x, y = a.cells.get(ck), b.cells.get(ck)
        if x is None or y is None:
            out.append(f"{ck}: only in {'the first' if y is None else 'the second'} answer")
        elif any(x[f] != y[f] for f in fields):
            out.append(f"{ck}: {[x[f] for f in fields]} != {[y[f] for f in fields]}")
    return out


def check_release(model: Model, k: int, answers: Answers, th: Thresholds) -> list[str]:
    """Published figures are exact, whole, and safe by the primary rules; hidden cells show
    no number; every cell with data is answered."""
    problems = []
    for ck, cell in sorted(answers.cells.items(), key=lambda item: item[0].order()):
        contrib = model.contributions(k, ck)
        where = f"r{k + 1} {ck}"
        if cell["suppressed"] or cell["value"] is None:
            if not cell["suppressed"]:
                problems.append(f"{where}: value null but not suppressed")
            shown = {
                f: cell[f]
                for f in ("value", "numerator", "denominator", "n")
                if cell[f] is not None
            }
            if shown:
                problems.append(f"{where}: hidden but shows {shown}")
            continue
        value = cell["value"]
        if type(value) is not int:
            problems.append(f"{where}: a count as {value!r} in JSON, not an integer")
        if value != sum(contrib.values()):
            problems.append(f"{where}: {value} published, {sum(contrib.values())} sent {contrib}")
        if cell["organisations"] != len(contrib):
            problems.append(f"{where}: organisations {cell['organisations']}, sent by {contrib}")
        if th.would_hide(contrib):
            problems.append(f"{where}: {value} published though it rests on {contrib}")
    for ck in model.cells(k):
        if ck not in answers.cells:
            problems.append(f"r{k + 1} {ck}: has data ({model.contributions(k, ck)}), no answer")
    return problems


def check_relations(model: Model, k: int, rel: Release) -> list[str]:
    """Every additive relation between published figures holds exactly (absent = 0)."""
    problems = []
    for eq in relations(model, k):
        if any(ck in rel.hidden for ck in eq):
            continue
        total = sum(c * rel.published.get(ck, 0) for ck, c in eq.items())
        if total:
            terms = " ".join(f"{c:+d}*{ck}[{rel.published.get(ck, 0)}]" for ck, c in eq.items())
            problems.append(f"r{k + 1}: {terms} = {total}, not 0")
    return problems


def check_textbook_form(model: Model, releases: Sequence[Release], k: int) -> list[str]:
    """The proof in its textbook form (unknowns: the hidden cells; equations: the relations
    between cells), and a cross-check of the attacker: whatever this form determines, the
    full attack determines too, to the same value."""
    rel = releases[k]
    equations = relations(model, k)
    known: dict[CellKey, int | Fraction] = dict(rel.published)
    for eq in equations:
        for ck in eq:
            if ck not in rel.published and ck not in rel.hidden:
                known[ck] = 0  # absent from every answer
    full = Knowledge(model, releases, [k])
    problems = []
    for ck, value in sorted(
        determined_unknowns(equations, known).items(), key=lambda i: i[0].order()
    ):
        problems.append(f"r{k + 1} hidden {ck} = {value} by the relations between cells")
        hit, v, _ = full.determines(model.vector(k, ck))
        assert hit and v == value == model.truth(k, ck), f"attacker bug at {ck}"
    return problems


def check_vendor_view(model: Model, answers: Answers, own: frozenset[str], who: str) -> list[str]:
    """A vendor's live figures hold its own organisations only (model: the live state)."""
    problems = []
    for ck, cell in sorted(answers.cells.items(), key=lambda item: item[0].order()):
        mine = {o: v for o, v in model.contributions(0, ck).items() if o in own}
        if cell["value"] is not None and cell["value"] != sum(mine.values()):
            problems.append(f"{who} {ck}: sees {cell['value']}, its own organisations sent {mine}")
        if cell["organisations"] > len(mine):
            problems.append(f"{who} {ck}: {cell['organisations']} organisations, owns {mine}")
    return problems


@dataclass
class Outcome:
    model: Model
    answers: list[Answers]  # per release, as collected with release=<id>
    releases: list[Release]
    problems: dict[str, list]
    thresholds: Thresholds
    requests: int = 0


def run(
    client,
    db,
    publisher,
    analyst,
    scenario: Scenario,
    geography: Geography,
    *,
    dims: Sequence[str | None] = (None, *DIMENSIONS),
    vendor_views: Mapping[str, bool] | None = None,
    thorough: bool = True,
) -> Outcome:
    """Register; send each round and release it; collect every analyst answer of each
    release; check what analysts see before a release (nothing live), that the latest
    answer is the last release and that a release never changes (``thorough``: every
    answer, else a sample), and each vendor's live view (``vendor_views``: vendor -> every
    answer, or a sample). Then the checks and the attack."""
    keys = register(db, scenario)
    kpi, year = scenario.kpi, scenario.year
    sample = {"periods": [{"from": f"{year}-01", "to": f"{year}-12"}], "dims": dims[:2]}
    problems: dict[str, list] = {"answers": []}
    answers: list[Answers] = []
    ids: list[str] = []
    moments: list[str] = []
    requests = 0

    def compare(what: str, expected: Answers, got: Answers) -> None:
        nonlocal requests
        requests += got.requests
        problems["answers"].extend(f"{what}: {p}" for p in got.problems)
        if expected.cells:
            problems["answers"].extend(f"{what}: {p}" for p in same_answers(expected, got))
        else:
            problems["answers"].extend(
                f"{what}: {ck} = {cell['value']} shown"
                for ck, cell in got.cells.items()
                if cell["value"] is not None
            )

    for i, change in enumerate(scenario.rounds):
        send(client, scenario, keys, change)
        # Sent but not released: analysts still read the previous release, live or as_of.
        previous = answers[-1] if answers else Answers()
        if thorough or not answers:
            latest = collect(client, analyst, kpi, year, sample["dims"], periods=sample["periods"])
            compare(f"round {i + 1} sent, not released (latest)", previous, latest)
        response = client.post(
            "/v1/figure-releases", json={"period": str(year), "kpis": [kpi]}, headers=publisher
        )
        assert response.status_code == 201, response.text
        ids.append(str(response.json()["id"]))
        moments.append(response.json()["released_at"])
        if thorough:
            just_before = _just_before(moments[-1])
            as_of = collect(
                client,
                analyst,
                kpi,
                year,
                dims[:1],
                periods=sample["periods"],
                extra={"as_of": just_before},
            )
            compare(f"as_of {just_before}, before release {i + 1}", previous, as_of)
        got = collect(client, analyst, kpi, year, dims, release=ids[-1])
        requests += got.requests
        problems["answers"] += [f"release {i + 1}: {p}" for p in got.problems]
        answers.append(got)
    latest = collect(client, analyst, kpi, year, sample["dims"], periods=sample["periods"])
    compare("latest after the last release", answers[-1], latest)
    for k, rid in enumerate(ids[:-1] if thorough else []):
        again = collect(
            client, analyst, kpi, year, sample["dims"], periods=sample["periods"], release=rid
        )
        compare(f"release {k + 1} read after release {len(ids)}", answers[k], again)
        as_of = collect(
            client,
            analyst,
            kpi,
            year,
            dims[:1],
            periods=sample["periods"],
            extra={"as_of": moments[k]},
        )
        compare(f"as_of release {k + 1}", answers[k], as_of)

    th = next((a.thresholds for a in answers if a.thresholds), None) or Thresholds()
    model = Model(geography, year, scenario.states())
    releases = [a.release() for a in answers]
    for k, got in enumerate(answers):
        problems["answers"] += check_release(model, k, got, th)
    problems["relations"] = [
        p for k, r in enumerate(releases) for p in check_relations(model, k, r)
    ]

    live = Model(geography, year, scenario.states()[-1:])
    problems["vendor views"] = []
    vendors = scenario.vendors()
    views = dict.fromkeys(vendors, True) if vendor_views is None else vendor_views
    for name, every in views.items():
        # A vendor's live view is computed afresh for every request, and slowly (up to ~1 s
        # a request): one vendor gets every answer, the others one answer per boundaries.
        view = (
            collect(client, keys[name], kpi, year, dims)
            if every
            else collect(
                client,
                keys[name],
                kpi,
                year,
                dims[:1],
                levels=["municipality"],
                periods=[{"period": str(year)}],
            )
        )
        requests += view.requests
        problems["vendor views"] += view.problems
        problems["vendor views"] += check_vendor_view(live, view, vendors[name], f"vendor {name}")
    tiers = attack(model, releases, th, vendors)
    # Shown first: what gives an organisation away; then secondary cells worked out.
    problems["disclosure"] = sorted(
        tiers["contract"], key=lambda f: isinstance(f, Finding) and "(secondary)" in f.target
    )
    # The stronger attacker, split: a hidden cell that only protected others (secondary)
    # being worked out once later releases are in is no disclosure while everything it
    # protected stays hidden (that is checked); one organisation's part of a cell worked out
    # by combining cells is beyond the published contract (README: what it does not cover).
    parts = [f for f in tiers["stronger"] if isinstance(f, Finding) and "own part" in f.what]
    problems["organisation parts"] = parts
    problems["stronger attacker"] = [
        f
        for f in tiers["stronger"]
        if f not in parts and not (isinstance(f, Finding) and "(secondary)" in f.target)
    ]
    return Outcome(model, answers, releases, problems, th, requests)


def _just_before(moment: str) -> str:
    """An ISO timestamp one millisecond before ``moment``."""
    at = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return (at - timedelta(milliseconds=1)).isoformat()


def fixed_scenario() -> Scenario:
    """Three provinces; Amsterdam with three organisations and Weesp with one (merged into
    Amsterdam since), Beemster with one (merged into Purmerend, two); Groningen two and
    Stadskanaal one; Utrecht three, Zeist two and Amersfoort one. Two organisations work in
    two municipalities; vendors serve one to three organisations each."""
    layout = [
        # code, vendor, municipalities, grain, breakdowns
        ("ATK-01", "Regas", ("GM0363",), "month", DIMENSIONS),
        ("ATK-02", "Regas", ("GM0363", "GM0457"), "month", ("age_band",)),
        ("ATK-03", "Lumen", ("GM0363",), "quarter", DIMENSIONS),
        ("ATK-04", "Lumen", ("GM0370",), "month", ("gender",)),
        ("ATK-05", "Noord", ("GM0439",), "month", DIMENSIONS),
        ("ATK-06", "Noord", ("GM0439", "GM0014"), "quarter", ("age_band",)),
        ("ATK-07", "Regas", ("GM0014",), "month", DIMENSIONS),
        ("ATK-08", "Stad", ("GM0037",), "month", ()),
        ("ATK-09", "Stad", ("GM0344",), "month", DIMENSIONS),
        ("ATK-10", "Lumen", ("GM0344",), "quarter", ("gender",)),
        ("ATK-11", "Utr", ("GM0344",), "month", DIMENSIONS),
        ("ATK-12", "Utr", ("GM0355",), "month", ("age_band",)),
        ("ATK-13", "Noord", ("GM0355",), "month", DIMENSIONS),
        ("ATK-14", "Stad", ("GM0307",), "quarter", DIMENSIONS),
    ]
    orgs = [Org(*row) for row in layout]
    late = [Org("ATK-15", "Nieuw", ("GM0355",), "month", DIMENSIONS)]
    scenario = Scenario("ACT-01", 2021, orgs, late)
    make_rounds(random.Random(20211231), scenario)
    return scenario


def test_no_figure_or_change_is_given_away(client, db, publisher, analyst, geography, subtests):
    """The fixed scenario: every answer of two releases, every vendor's live view."""
    scenario = fixed_scenario()
    views = {v: v == "Stad" for v in scenario.vendors()}  # Stad: every answer
    outcome = run(client, db, publisher, analyst, scenario, geography, vendor_views=views)
    assert any(r.hidden for r in outcome.releases) and any(r.published for r in outcome.releases)
    assert CellKey("current", "GM0363", "2021", None) in outcome.answers[0].cells
    empty = collect(client, analyst, "ACT-01", 2021, ["district"], release="2021-r2")
    outcome.problems["answers"] += [f"district: {p}" for p in empty.problems]
    outcome.problems["answers"] += [f"district: {ck} without data" for ck in empty.cells]
    for what, title in (
        ("answers", "answers that are wrong, unsafe by the primary rules or not released"),
        ("relations", "published figures that do not add up"),
        ("vendor views", "vendor views holding others' data"),
        ("disclosure", "disclosures (issue 11: hidden cells, vendor complements, changes)"),
    ):
        with subtests.test(what):
            fail_if(outcome.problems[what], title)
    with subtests.test("textbook form"):
        textbook = [
            p
            for k in range(len(outcome.releases))
            for p in check_textbook_form(outcome.model, outcome.releases, k)
        ]
        fail_if(textbook, "hidden cells determined by the relations between cells")
    with subtests.test("stronger attacker"):
        fail_if(
            outcome.problems["stronger attacker"],
            "disclosures to an attacker who knows which measurements changed",
        )
    with subtests.test("organisation parts"):
        if outcome.problems["organisation parts"]:
            pytest.xfail(
                f"known limit (README): {len(outcome.problems['organisation parts'])} parts of "
                "one organisation in a cell can be worked out by combining cells, e.g. "
                f"{outcome.problems['organisation parts'][0]}"
            )


# --- the same on random data -------------------------------------------------------------------

# Flow counts with an age band and a gender breakdown: each example gets a (KPI, year) table
# no earlier example touched, so examples do not see each other's data or releases.
KPIS = ("ACT-04", "ACT-07", "ACT-09", "ACT-11", "ACT-13", "ACT-14", "ACT-01")
TABLES = [
    (kpi, year) for kpi in KPIS for year in range(2019, 2026) if (kpi, year) != ("ACT-01", 2021)
]


def random_scenario(rng: random.Random, geo: Geography, kpi: str, year: int) -> Scenario:
    """Two (or three) provinces of two or three municipalities valid all year (one that
    merged or split since, with the one it went to, where the year has one), one to three
    organisations per municipality of two to four vendors, some in two municipalities, each
    reporting months, quarters or (rarely) the year, with any breakdowns; a late one."""
    valid = [m for m in sorted(geo.province) if geo.valid_all_year(m, year)]
    by_province: dict[str, list[str]] = {}
    for m in valid:
        by_province.setdefault(geo.province[m], []).append(m)
    moving = [m for m in valid if geo.successors.get(m)]
    count = 3 if rng.random() < 0.2 else 2
    with_moves = sorted({geo.province[m] for m in moving})
    chosen = rng.sample(with_moves, min(len(with_moves), rng.randint(1, count)))
    chosen += rng.sample(sorted(set(by_province) - set(chosen)), count - len(chosen))
    munis: list[str] = []
    for pv in chosen:
        pool = by_province[pv]
        picks = []
        if movers := [m for m in pool if m in moving]:
            picks.append(rng.choice(movers))
            heir = geo.current(picks[0])
            if heir in pool:
                picks.append(heir)
        rest = [m for m in pool if m not in picks]
        picks += rng.sample(rest, max(1, 2 - len(picks)))
        munis += picks
    # Names unique per table (each table serves one example per database), the same on both.
    tag = f"{kpi}-{year}"
    fresh = itertools.count(1)
    vendors = [f"RV-{tag}-{v}" for v in range(rng.randint(2, 4))]
    orgs = []
    for muni in munis:
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            where = (muni,)
            if rng.random() < 0.2:
                where += (rng.choice([m for m in munis if m != muni]),)
            grain = rng.choices(("month", "quarter", "year"), (6, 3, 1))[0]
            dims = tuple(d for d in DIMENSIONS if rng.random() < 0.6)
            orgs.append(Org(f"{tag}-{next(fresh)}", rng.choice(vendors), where, grain, dims))
    late = [
        Org(f"{tag}-{next(fresh)}", rng.choice(vendors), (rng.choice(munis),), "month", DIMENSIONS)
    ]
    scenario = Scenario(kpi, year, orgs, late)
    make_rounds(rng, scenario, extra_round=rng.random() < 0.3)
    return scenario


def test_no_figure_or_change_is_given_away_on_random_data(
    client, db, publisher, analyst, geography
):
    """The same checks (but vendor views and ``as_of``) on random registries and data, each
    example on a (KPI, year) table of its own."""
    tables = iter(TABLES)
    failed: list[tuple[str, str, list]] = []  # the first failing example, reported below

    @settings(
        max_examples=8,  # each example is ~2 s of HTTP and algebra
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        # No shrinking: against the database it would take minutes.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    @given(seed=st.integers(0, 2**32 - 1))
    def example(seed):
        # An example cannot be replayed (its table then holds its data and releases), so a
        # failure is recorded rather than raised, and the examples after it are skipped.
        if failed:
            return
        rng = random.Random(seed)
        kpi, year = next(tables)
        scenario = random_scenario(rng, geography, kpi, year)
        outcome = run(
            client,
            db,
            publisher,
            analyst,
            scenario,
            geography,
            vendor_views={},  # the fixed scenario checks them (they are slow to compute)
            thorough=False,
        )
        where = f"{kpi} {year}, seed {seed}, organisations {scenario.everyone}"
        failed.extend(
            (what, where, p)
            for what, p in outcome.problems.items()
            if p and what != "organisation parts"  # a known limit: see the fixed scenario
        )

    example()
    for what, where, problems in failed[:1]:
        fail_if(problems, f"{what} ({where})")
