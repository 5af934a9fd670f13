"""The README states the validation rules as the code has them: every list and count of rules in
it is checked against ``submissions/rules.py`` and what ``GET /v1/validation-rules`` serves.

A new rule fails these tests until the README names it (in "Submitting measurements").
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from kpi_api.submissions.rules import RULES

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
#: A rule code in backticks: lower-case words joined by underscores.
CODE = re.compile(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`")
ROW_LIST = "A row is rejected by these rules:"
REQUEST_LIST = "A request is refused whole by these:"


def section(title: str) -> str:
    """The text of the README's ``## title`` section, up to the next one."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def listed_rules() -> tuple[list[str], list[str]]:
    """The codes the README lists for row rules and for request rules, in its order."""
    text = section("Submitting measurements")
    assert text.count(ROW_LIST) == 1 and text.count(REQUEST_LIST) == 1
    rows_part = text.split(ROW_LIST)[1].split(REQUEST_LIST)[0]
    request_part = text.split(REQUEST_LIST)[1].split("\n- **")[0]
    return CODE.findall(rows_part), CODE.findall(request_part)


def codes(level: str) -> set[str]:
    return {rule.code for rule in RULES.values() if rule.level == level}


def test_the_readme_lists_every_row_rule_once():
    row_rules, _ = listed_rules()
    assert [code for code, n in Counter(row_rules).items() if n > 1] == []
    assert set(row_rules) - codes("row") == set(), "listed, but no such row rule"
    assert codes("row") - set(row_rules) == set(), "a row rule the README does not list"


def test_the_readme_lists_every_request_rule_once():
    _, request_rules = listed_rules()
    assert [code for code, n in Counter(request_rules).items() if n > 1] == []
    assert set(request_rules) - codes("request") == set(), "listed, but no such request rule"
    assert codes("request") - set(request_rules) == set(), "a request rule the README misses"


def test_the_readme_lists_what_the_service_serves(client):
    served = client.get("/v1/validation-rules").json()["items"]
    row_rules, request_rules = listed_rules()
    assert {r["code"]: r["level"] for r in served} == {c: "row" for c in row_rules} | {
        c: "request" for c in request_rules
    }
    assert len(served) == len(row_rules) + len(request_rules) == len(RULES)


def test_every_count_of_rules_in_the_readme_is_right():
    """A number of rules, if the README states one, is the number the code has."""
    expected = {"": len(RULES), "validation ": len(RULES), "row ": len(codes("row"))}
    expected["request "] = len(codes("request"))
    pattern = re.compile(r"\b(\d[\d,]*)\s+(validation\s+|row\s+|request\s+)?rules\b", re.I)
    for match in pattern.finditer(README):
        kind = (match.group(2) or "").lower().replace("\n", " ")
        kind = re.sub(r"\s+", " ", kind)
        assert int(match.group(1).replace(",", "")) == expected[kind], match.group(0)


def test_every_code_the_readme_says_a_submission_is_refused_with_is_a_rule():
    cited = re.findall(r"rejected with\s+`([a-z_]+)`", README)
    cited += re.findall(r"\b[45]\d\d\s+`([a-z_]+)`", section("Submitting measurements"))
    assert cited  # the README does cite some
    assert set(cited) - set(RULES) == set()
