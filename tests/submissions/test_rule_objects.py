"""One rule, one object: each rule of ``submissions/rules.py`` is named by the one check that
enforces it, named by a test, rendered strictly, and answered in the client's language.

A *check site* of a rule is where the source names its constant (``rules.PERIOD_IN_FUTURE``,
or the name imported from ``kpi_api.submissions.rules``) outside ``rules.py``: the innermost
function or class around the reference (``validation._period``), or for a module-level
reference the name the statement binds (a table such as ``validation._PYDANTIC_RULES``). Every
reference counts, a comparison as much as a ``row.fail``; a function naming a rule twice (two
branches of one check) is one site.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

import kpi_api
from kpi_api.messages import Message, MessageError
from kpi_api.submissions import rules
from kpi_api.submissions.rules import RULES, TEXTS, Rule
from kpi_api.submissions.validation import Context, _Row
from tests.submissions.conftest import row, submit

SRC = Path(kpi_api.__file__).parent
TESTS = Path(__file__).parents[1]
RULES_MODULE = "kpi_api.submissions.rules"
CONSTANTS = {name for name, value in vars(rules).items() if isinstance(value, Rule)}
MESSAGES = {name: value for name, value in vars(rules).items() if isinstance(value, Message)}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module an ``import from`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def rule_references(source: str, module: str, *, is_package: bool = False) -> list[tuple[str, str]]:
    """(constant, check site) for every reference to a rule constant in ``source``."""
    tree = ast.parse(source)
    module_names: set[str] = set()  # names bound to the rules module
    dotted: set[str] = set()  # `import kpi_api.submissions.rules` (used with its full name)
    constant_names: dict[str, str] = {}  # local name -> constant it is
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            origin = _absolute(node, module, is_package)
            for alias in node.names:
                if f"{origin}.{alias.name}" == RULES_MODULE:
                    module_names.add(alias.asname or alias.name)
                elif origin == RULES_MODULE and alias.name in CONSTANTS:
                    constant_names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == RULES_MODULE:
                    if alias.asname:
                        module_names.add(alias.asname)
                    else:
                        dotted.add(RULES_MODULE)

    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, scope: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            scope = f"{scope}.{node.name}"
        if isinstance(node, ast.Attribute) and node.attr in CONSTANTS:
            owner = ast.unparse(node.value)
            if owner in module_names or owner in dotted:
                found.append((node.attr, scope))
        elif isinstance(node, ast.Name) and node.id in constant_names:
            found.append((constant_names[node.id], scope))
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    for statement in tree.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            continue
        scope = module
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            scope = f"{module}." + ",".join(ast.unparse(t) for t in targets)
        visit(statement, scope)
    return found


def check_sites() -> dict[str, set[str]]:
    """Every rule constant's check sites in ``src/kpi_api`` (``rules.py`` itself left out)."""
    sites: dict[str, set[str]] = defaultdict(set)
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        if module == RULES_MODULE:
            continue
        text = path.read_text(encoding="utf-8")
        for constant, site in rule_references(text, module, is_package=path.name == "__init__.py"):
            sites[constant].add(site)
    return sites


# --- one object, one check --------------------------------------------------------------------


def test_every_rule_is_a_constant_named_after_its_code_and_listed_in_order():
    assert list(RULES) == [r.code for r in vars(rules).values() if isinstance(r, Rule)]
    assert {c.upper() for c in RULES} == CONSTANTS
    assert all(getattr(rules, code.upper()) is rule for code, rule in RULES.items())
    assert all(getattr(rules, code.upper()) is text for code, text in TEXTS.items())


def test_the_scanner_finds_references_however_the_rule_is_imported():
    source = (
        "from kpi_api.submissions import rules\n"
        "from kpi_api.submissions.rules import PERIOD_LOCKED as LOCKED\n"
        "from . import rules as r\n"
        "TABLE = {'x': rules.FIELD_MISSING}\n"
        "def one(row):\n"
        "    row.fail(rules.PERIOD_IN_FUTURE)\n"
        "    row.fail(rules.PERIOD_IN_FUTURE)\n"
        "class Two:\n"
        "    def check(self, row):\n"
        "        row.fail(r.PERIOD_IN_FUTURE)\n"
        "        return LOCKED, other.PERIOD_INVALID\n"
    )
    found = rule_references(source, "kpi_api.submissions.example")
    assert sorted(set(found)) == [
        ("FIELD_MISSING", "kpi_api.submissions.example.TABLE"),
        ("PERIOD_IN_FUTURE", "kpi_api.submissions.example.Two.check"),
        ("PERIOD_IN_FUTURE", "kpi_api.submissions.example.one"),
        ("PERIOD_LOCKED", "kpi_api.submissions.example.Two.check"),
    ]


@pytest.mark.parametrize("code", [c for c, r in RULES.items() if r.level == "row"])
def test_every_row_rule_is_checked_in_exactly_one_place(code):
    sites = check_sites().get(code.upper(), set())
    assert len(sites) == 1, f"{code} is checked in {sorted(sites) or 'no place'}"


def test_every_request_rule_is_raised_somewhere():
    sites = check_sites()
    # Raised outside the submissions domain, by code (web/ imports no domain):
    # body_too_large by the body-size limit and the gzip boundary.
    elsewhere = {"body_too_large"}
    missing = [c for c, r in RULES.items() if r.level == "request" and not sites.get(c.upper())]
    assert sorted(missing) == sorted(elsewhere)


def test_the_submissions_code_names_no_rule_by_its_code():
    """A code written as a string could be misspelt without anyone noticing."""
    named = []
    for path in sorted((SRC / "submissions").glob("*.py")):
        if path.name == "rules.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in RULES:
                named.append(f"{path.name}:{node.lineno} {node.value!r}")
    assert named == []


def _test_sources() -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8")
        for path in TESTS.rglob("*.py")
        if path.resolve() != Path(__file__).resolve()
    }


def test_every_rule_is_named_by_a_test():
    """By its code as a string (``"period_in_future"``) or its constant, in another test file."""
    named: set[str] = set()
    for source in _test_sources().values():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named.add(node.value)
            elif isinstance(node, ast.Attribute | ast.Name):
                named.add((node.attr if isinstance(node, ast.Attribute) else node.id).lower())
    assert [code for code in RULES if code not in named] == []


# --- strict messages --------------------------------------------------------------------------


def _params(message: Message) -> dict[str, object]:
    return {name: f"<{name}>" for name in message.params}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_message_renders_with_exactly_its_parameters(name):
    message = MESSAGES[name]
    for lang in ("en", "nl"):
        text = message.render(lang, **_params(message))
        assert "{" not in text and "}" not in text, text
        for param in message.params:
            assert f"<{param}>" in text
        with pytest.raises(MessageError):
            message.render(lang, **_params(message), unexpected=1)
        for param in message.params:
            with pytest.raises(MessageError):
                message.render(lang, **{k: v for k, v in _params(message).items() if k != param})


def test_a_check_that_leaves_out_a_parameter_raises_instead_of_showing_it():
    ctx = Context(
        lang="nl",
        today=date.today(),
        specs={},
        current_release=None,
        releases={},
        code_lists={},
        municipalities={},
        organisations={},
        locks=[],
    )
    checked = _Row(1, ctx)
    with pytest.raises(MessageError, match="end"):
        checked.fail(rules.PERIOD_IN_FUTURE, period="2999")  # without `end`
    checked.fail(rules.PERIOD_IN_FUTURE, period="2999", end="2999-12-31")
    assert checked.errors[0].message == "Periode 2999 is nog niet afgelopen (eindigt 2999-12-31)."


# --- answered in Dutch ------------------------------------------------------------------------

NL = {"Accept-Language": "nl"}


def _problem(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    return response.json()["detail"]


def test_a_period_closed_twice_is_a_conflict_in_the_clients_language(client, world):
    body = {"period": "2025-Q1", "reason": "closed"}
    assert client.post("/v1/period-locks", json=body, headers=world.publisher).status_code == 201
    again = client.post("/v1/period-locks", json=body, headers=world.publisher | NL)
    assert _problem(again, 409, "period_already_locked") == "Periode 2025-Q1 is al afgesloten."
    assert again.headers["Content-Language"] == "nl"
    again = client.post("/v1/period-locks", json=body, headers=world.publisher)
    assert _problem(again, 409, "period_already_locked") == "Period 2025-Q1 is already closed."
    assert again.headers["Content-Language"] == "en"


def test_a_reused_idempotency_key_is_a_conflict_in_dutch(client, world):
    key = {"Idempotency-Key": "nl-1"}
    assert submit(client, world.a, [row()], headers=key).status_code == 201
    other = submit(client, world.a, [row(value=7)], headers=key | NL)
    assert _problem(other, 409, "idempotency_key_reused") == (
        "Deze Idempotency-Key is gebruikt voor een ander verzoek."
    )


def test_what_does_not_exist_is_answered_in_dutch(client, world):
    missing = "00000000-0000-0000-0000-000000000000"
    response = client.get(f"/v1/submissions/{missing}", headers=world.a.headers | NL)
    assert _problem(response, 404, "submission_not_found") == f"Aanlevering {missing} bestaat niet."
    response = client.get("/v1/measurements/12345/history", headers=world.a.headers | NL)
    assert _problem(response, 404, "measurement_not_found") == "Meting 12345 bestaat niet."
    response = client.delete("/v1/period-locks/2024", headers=world.publisher | NL)
    assert _problem(response, 404, "period_lock_not_found") == "Periode 2024 is niet afgesloten."


def test_a_rejected_batch_and_an_empty_one_are_refused_in_dutch(client, world):
    rejected = submit(client, world.a, [row(), row(kpi="NOPE")], headers=NL)
    assert _problem(rejected, 422, "submission_rejected") == (
        "1 van 2 rijen zijn afgewezen; er is niets opgeslagen."
    )
    empty = submit(client, world.a, [], headers=NL)
    assert _problem(empty, 422, "batch_empty") == "De batch bevat geen metingen."
    assert empty.headers["Content-Language"] == "nl"
