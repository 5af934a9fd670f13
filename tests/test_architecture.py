"""The house rules a build checks, beyond what `lint-imports` and `mypy` check themselves.

- every domain module other than ``service`` and ``schemas`` is protected by an import contract
  (so a new module is private to its domain until someone decides otherwise);
- the README's layout section names every module and package of ``src/kpi_api``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "kpi_api"
#: Packages that are not domains: domain-free plumbing and computation.
NOT_DOMAINS = {"web", "statistics"}
PUBLIC = {"service", "schemas"}


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["importlinter"]["contracts"])


def _domains() -> dict[str, set[str]]:
    return {
        d.name: {m.stem for m in d.glob("*.py") if m.stem != "__init__"}
        for d in sorted(PACKAGE.iterdir())
        if d.is_dir() and (d / "__init__.py").exists() and d.name not in NOT_DOMAINS
    }


def test_every_private_module_of_a_domain_is_protected() -> None:
    protected = {
        m
        for c in _contracts()
        if c["type"] == "protected"
        for m in c["protected_modules"]  # type: ignore[attr-defined]
    }
    missing = [
        f"kpi_api.{d}.{m}"
        for d, modules in _domains().items()
        for m in sorted(modules - PUBLIC)
        if f"kpi_api.{d}.{m}" not in protected
    ]
    assert not missing, f"add these to a protected contract in pyproject.toml: {missing}"


def test_every_domain_is_in_the_layer_and_core_contracts() -> None:
    contracts = _contracts()
    layers = next(c for c in contracts if c["type"] == "layers")
    core = next(c for c in contracts if c["type"] == "forbidden")
    for domain in _domains():
        assert f"kpi_api.{domain}" in layers["containers"]  # type: ignore[operator]
        assert f"kpi_api.{domain}" in core["forbidden_modules"]  # type: ignore[operator]


def test_the_readme_layout_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    words = set(re.findall(r"[a-z_0-9]+", layout))
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    for package in PACKAGE.iterdir():
        if package.is_dir() and (package / "__init__.py").exists():
            names.add(package.name)
            names |= {m.stem for m in package.glob("*.py") if m.stem != "__init__"}
    missing = sorted(names - words)
    assert not missing, f"the README's layout section does not mention: {missing}"
