"""The report for the periodic conversation: HTML in Dutch (default) or English, and the PDF
headless Chromium prints of it, checked by its text.

Needs Debian's `chromium` and `poppler-utils` (pdftotext); without them the PDF test is
skipped, except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.agreements.conftest import active, reach


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (apt-get install chromium poppler-utils)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def reported(client, keys) -> dict:
    agreement = active(client, keys.vendor_a)
    reach(client, keys.world, {"2024-Q4": 100, "2025-Q1": 104, "2025-Q2": 110}, note="Zomerstop")
    explanation = {"kpi": "ACT-01", "period": "2025-Q2", "text": "Nieuwe inloop in Oost."}
    response = client.post(
        f"/v1/agreements/{agreement['id']}/explanations", json=explanation, headers=keys.amsterdam
    )
    assert response.status_code == 201
    return agreement


def test_the_report_is_html_in_dutch_by_default_and_english_on_request(client, keys, reported):
    url = f"/v1/agreements/{reported['id']}/report"
    dutch = client.get(url, headers=keys.amsterdam)
    assert dutch.status_code == 200, dutch.text
    assert dutch.headers["content-type"].startswith("text/html")
    assert dutch.headers["content-language"] == "nl"
    html = dutch.text
    assert '<html lang="nl">' in html and "@media print" in html and "@page" in html
    for text in (
        "Ouderenwerk Amsterdam 2025",
        "Voortgangsrapportage",
        "De streefwaarden in deze afspraak zijn indicatief",
        "The targets in this agreement are indicative",  # the disclaimer in both languages
        "Meer ouderen bereiken",
        "Op koers",
        "Nieuwe inloop in Oost.",
        "Zomerstop",
        "1/1 organisaties",
        "Gemeente Amsterdam",  # the author of the explanation
        "Statistics Canada",
    ):
        assert text in html, text
    english = client.get(url, params={"lang": "en"}, headers=keys.org_a)
    assert english.headers["content-language"] == "en"
    assert "Progress report" in english.text and "On track" in english.text
    assert "Reach more older people" in english.text
    negotiated = client.get(url, headers=keys.org_a | {"Accept-Language": "en-GB,en;q=0.8"})
    assert negotiated.headers["content-language"] == "en"
    preferred = client.get(url, headers=keys.org_a | {"Accept-Language": "nl;q=0.9,en;q=0.8"})
    assert preferred.headers["content-language"] == "nl"


def test_text_in_the_report_is_escaped(client, keys):
    agreement = active(client, keys.vendor_a, title="<script>alert(1)</script> & co")
    html = client.get(f"/v1/agreements/{agreement['id']}/report", headers=keys.org_a).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


def test_the_report_prints_to_pdf_with_headless_chromium(client, keys, reported, tmp_path: Path):
    chromium, pdftotext = _tool("chromium"), _tool("pdftotext")
    html = client.get(f"/v1/agreements/{reported['id']}/report", headers=keys.org_a).text
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], check=True, capture_output=True, timeout=60
    ).stdout.decode("utf-8")
    words = " ".join(text.split())
    for expected in (
        "Ouderenwerk Amsterdam 2025",
        "De streefwaarden in deze afspraak zijn indicatief",
        "ACT-01",
        "Meer ouderen bereiken",
        "Op koers",
        "Nieuwe inloop in Oost.",
        "Zomerstop",
    ):
        assert expected in words, (expected, words[:2000])
    pages = subprocess.run(
        ["pdfinfo", str(pdf)], check=True, capture_output=True, timeout=60
    ).stdout.decode()
    assert "A4" in pages or "595" in pages  # printed on A4 (595 × 842 pt)
