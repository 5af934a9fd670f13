"""Messages in English and Dutch: rendered strictly, used for every error, answered in the
client's language."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import kpi_api
from kpi_api.errors import BodyError, KpiApiError, NotFound
from kpi_api.messages import Message, MessageError
from kpi_api.web.limits import BodySizeLimit
from kpi_api.web.ratelimit import RateLimiter

SRC = Path(kpi_api.__file__).parent

# --- Message ----------------------------------------------------------------------------------

GREETING = Message("greeting", "KPI {kpi!r} has {n} versions.", "KPI {kpi!r} heeft {n} versies.")


def test_a_message_renders_in_dutch_and_otherwise_in_english():
    assert GREETING.render("nl", kpi="ACT-1", n=2) == "KPI 'ACT-1' heeft 2 versies."
    assert GREETING.render("en", kpi="ACT-1", n=2) == "KPI 'ACT-1' has 2 versions."
    assert GREETING.render("de", kpi="ACT-1", n=2) == "KPI 'ACT-1' has 2 versions."
    assert GREETING.texts(kpi="X", n=1) == {
        "en": "KPI 'X' has 1 versions.",
        "nl": "KPI 'X' heeft 1 versies.",
    }


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_a_missing_parameter_raises(lang):
    with pytest.raises(MessageError, match="missing parameters \\['n'\\]"):
        GREETING.render(lang, kpi="ACT-1")


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_an_unknown_parameter_raises(lang):
    with pytest.raises(MessageError, match="unknown \\['kpl'\\]"):
        GREETING.render(lang, kpi="ACT-1", n=2, kpl="typo")


def test_english_and_dutch_must_name_the_same_parameters():
    with pytest.raises(MessageError, match="English names \\['kpi'\\], Dutch names \\['code'\\]"):
        Message("x", "KPI {kpi} does not exist.", "KPI {code} bestaat niet.")
    with pytest.raises(MessageError):
        Message("x", "KPI {kpi} does not exist.", "De KPI bestaat niet.")
    with pytest.raises(MessageError, match="positional"):
        Message("x", "KPI {} does not exist.", "KPI {} bestaat niet.")


def test_an_error_renders_its_message_in_both_languages_or_refuses():
    error = NotFound(GREETING, params={"kpi": "ACT-1", "n": 2})
    assert error.code == "greeting" and error.status == 404
    assert error.detail == "KPI 'ACT-1' has 2 versions."
    assert error.detail_in("nl") == "KPI 'ACT-1' heeft 2 versies."
    with pytest.raises(MessageError):
        NotFound(GREETING, params={"kpi": "ACT-1"})
    with pytest.raises(MessageError):
        NotFound("plain text", params={"kpi": "ACT-1"})


def _modules() -> Iterator[object]:
    for info in pkgutil.walk_packages([str(SRC)], prefix="kpi_api."):
        yield importlib.import_module(info.name)


def _messages() -> dict[str, Message]:
    return {
        f"{module.__name__}.{name}": value
        for module in _modules()
        for name, value in vars(module).items()
        if isinstance(value, Message)
    }


def test_every_message_of_the_service_has_a_dutch_text_of_its_own():
    found = _messages()
    assert len(found) > 50  # the scan finds them
    untranslated = sorted(name for name, m in found.items() if not m.nl.strip() or m.nl == m.en)
    assert untranslated == []


# --- no error is raised with a plain string -----------------------------------------------------


def _error_types() -> set[str]:
    """Names of the exceptions whose first argument is a detail a client reads."""
    list(_modules())  # every subclass defined
    names, todo = {BodyError.__name__}, [KpiApiError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _is_text(node: ast.expr | None) -> bool:
    """Whether an expression builds text: a literal, an f-string, a concatenation or a call
    (``"...".format()``, ``str()``, a rendered message): a client would read it in English."""
    if isinstance(node, ast.IfExp):
        return _is_text(node.body) or _is_text(node.orelse)
    return isinstance(node, ast.JoinedStr | ast.BinOp | ast.Call) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def _callee(node: ast.Call) -> str | None:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def plain_text_details(source: str, error_types: set[str]) -> list[tuple[int, str]]:
    """(line, code) of every error built with a plain string (or f-string) as its detail, and
    every problem answered with a literal ``detail``, in ``source``."""
    found = []
    tree = ast.parse(source)
    classes = {
        id(call): cls.name
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef)
        for call in ast.walk(cls)
        if isinstance(call, ast.Call)
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        keywords = {k.arg: k.value for k in node.keywords}
        if name in error_types or (
            name == "__init__"
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Call)
            and _callee(node.func.value) == "super"
            and classes.get(id(node)) in error_types
        ):
            detail = node.args[0] if node.args else keywords.get("detail")
            if detail is not None and _is_text(detail):
                found.append((node.lineno, ast.unparse(node)[:120]))
        elif name == "problem_response":
            detail = keywords.get("detail")
            if isinstance(detail, ast.JoinedStr | ast.BinOp) or (
                isinstance(detail, ast.Constant) and isinstance(detail.value, str)
            ):
                found.append((node.lineno, ast.unparse(node)[:120]))
    return sorted(found)


BAD = """
def f(code):
    raise NotFound(f"KPI {code!r} does not exist.", code="kpi_not_found")
    raise Conflict("Nothing to release.", code="release_empty")
    raise KpiApiError("The cursor is " + "bad", code="invalid_cursor")
    raise Forbidden(RULE.message(lang, kpi=code))
    raise Unauthorized(detail="This operation needs an API key.")
    raise Busy("a" if code else "b")
    return Unprocessable("Give period.", errors=[])

class Busy(KpiApiError):
    def __init__(self):
        super().__init__("The database is busy.")

def middleware():
    return problem_response(status=413, code="x", detail=f"more than {n} bytes")
"""
GOOD = """
def f(code, message: Message):
    raise NotFound(KPI_NOT_FOUND, params={"kpi": code})
    raise KpiApiError(INVALID_CURSOR)
    raise Unprocessable(service.RELEASE_OR_AS_OF, errors=[])
    return Unprocessable(message, params=params)

class Busy(KpiApiError):
    def __init__(self):
        super().__init__(DATABASE_BUSY)

def middleware():
    return problem_response(status=413, code="x", detail=BUSY.render(lang))
"""


def test_the_scan_finds_plain_text_details():
    types = {"NotFound", "Conflict", "KpiApiError", "Forbidden", "Unauthorized", "Busy"}
    types |= {"Unprocessable"}
    found = plain_text_details(BAD, types)
    assert [line for line, _ in found] == [3, 4, 5, 6, 7, 8, 9, 13, 16]
    assert plain_text_details(GOOD, types) == []


def test_no_error_of_the_service_has_a_plain_text_detail():
    types = _error_types()
    assert {"KpiApiError", "NotFound", "Unprocessable", "DatabaseBusy", "BodyError"} <= types
    found = [
        f"{path.relative_to(SRC.parent)}:{line}: {code}"
        for path in sorted(SRC.rglob("*.py"))
        for line, code in plain_text_details(path.read_text(encoding="utf-8"), types)
    ]
    assert found == [], "define a Message for each:\n" + "\n".join(found)


# --- over HTTP: Dutch when asked, English by default ---------------------------------------------

NL = {"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}


def _say(response, status: int, code: str, detail: str, lang: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["content-language"] == lang
    body = response.json()
    assert body["code"] == code, body
    assert body["detail"] == detail
    return body


@pytest.mark.parametrize(
    ("lang", "detail"),
    [
        ("en", "KPI 'NOPE-99' does not exist."),
        ("nl", "KPI 'NOPE-99' bestaat niet."),
    ],
)
def test_an_unknown_kpi_is_404_in_the_clients_language(client, lang, detail):
    headers = NL if lang == "nl" else {}
    _say(client.get("/v1/kpis/NOPE-99", headers=headers), 404, "kpi_not_found", detail, lang)


@pytest.mark.parametrize(
    ("lang", "detail"),
    [
        ("en", "A vendor named 'Acme' exists."),
        ("nl", "Er bestaat al een leverancier met de naam 'Acme'."),
    ],
)
def test_a_conflict_is_409_in_the_clients_language(client, publisher, lang, detail):
    assert client.post("/v1/vendors", json={"name": "Acme"}, headers=publisher).status_code == 201
    headers = publisher | (NL if lang == "nl" else {})
    again = client.post("/v1/vendors", json={"name": "Acme"}, headers=headers)
    _say(again, 409, "vendor_exists", detail, lang)


@pytest.mark.parametrize(
    ("lang", "detail"),
    [
        ("en", "The role 'analyst' may not do this; it needs: publisher."),
        ("nl", "De rol 'analyst' mag dit niet doen; hiervoor is nodig: publisher."),
    ],
)
def test_a_role_not_allowed_is_403_in_the_clients_language(client, analyst, lang, detail):
    headers = analyst | (NL if lang == "nl" else {})
    response = client.post("/v1/vendors", json={"name": "Acme"}, headers=headers)
    _say(response, 403, "role_not_allowed", detail, lang)


@pytest.mark.parametrize(
    ("lang", "detail"),
    [
        ("en", "This operation needs an API key."),
        ("nl", "Voor deze handeling is een API-sleutel nodig."),
    ],
)
def test_a_missing_key_is_401_in_the_clients_language(client, lang, detail):
    response = client.post("/v1/vendors", json={"name": "Acme"}, headers=NL if lang == "nl" else {})
    _say(response, 401, "missing_api_key", detail, lang)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("lang", "detail"),
    [
        ("en", "The request does not match the schema; see errors."),
        ("nl", "Het verzoek voldoet niet aan het schema; zie errors."),
    ],
)
def test_a_schema_error_is_422_in_the_clients_language(client, publisher, lang, detail):
    headers = publisher | (NL if lang == "nl" else {})
    response = client.post("/v1/vendors", json={}, headers=headers)
    body = _say(response, 422, "validation_failed", detail, lang)
    assert body["errors"][0]["pointer"] == "/name"


@pytest.mark.parametrize(
    ("lang", "detail"),
    [
        (
            "en",
            "The request's query holds text that cannot be read or stored: query parameter 'q' "
            "must be UTF-8 text without NUL characters.",
        ),
        (
            "nl",
            "De query van het verzoek bevat tekst die niet te lezen of op te slaan is: "
            "queryparameter 'q' moet UTF-8-tekst zonder NUL-tekens zijn.",
        ),
    ],
)
def test_unreadable_text_is_400_at_the_boundary_in_the_clients_language(client, lang, detail):
    response = client.get("/v1/kpis?q=a%00b", headers=NL if lang == "nl" else {})
    body = _say(response, 400, "invalid_text", detail, lang)
    assert body["errors"][0]["pointer"] == "/q"


@pytest.mark.parametrize(
    ("lang", "start"),
    [("en", "The JSON body is not taken: member "), ("nl", "De JSON-body wordt niet aangenomen: ")],
)
def test_a_body_the_boundary_does_not_take_is_400_in_the_clients_language(
    client, publisher, lang, start
):
    headers = publisher | {"Content-Type": "application/json"} | (NL if lang == "nl" else {})
    response = client.post("/v1/vendors", content=b'{"name": "a", "name": "b"}', headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-language"] == lang
    body = response.json()
    assert body["code"] == "duplicate_member"
    assert body["detail"].startswith(start), body["detail"]


@pytest.mark.parametrize(
    ("lang", "detail"),
    [
        ("en", "The request body exceeds 10 bytes."),
        ("nl", "De body van het verzoek is groter dan 10 bytes."),
    ],
)
def test_a_body_over_the_limit_is_413_in_the_clients_language(lang, detail):
    async def echo(request):
        return PlainTextResponse(await request.body())

    app = BodySizeLimit(Starlette(routes=[Route("/", echo, methods=["POST"])]), max_bytes=10)
    with TestClient(app) as client:
        response = client.post("/", content=b"x" * 11, headers=NL if lang == "nl" else {})
        _say(response, 413, "body_too_large", detail, lang)


def test_a_rate_limit_has_a_dutch_text():
    limiter = RateLimiter(per_minute=1, burst=1)
    limiter.check("key")
    with pytest.raises(KpiApiError) as caught:
        limiter.check("key")
    assert caught.value.status == 429 and caught.value.code == "rate_limited"
    assert caught.value.detail == "Too many requests for this API key; slow down."
    assert (
        caught.value.detail_in("nl") == "Te veel verzoeken met deze API-sleutel; verlaag het tempo."
    )
