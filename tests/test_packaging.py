"""What `pip install larkdou` installs must be enough to run what `larkdou/` imports.

Every third-party module imported anywhere under `larkdou/` is declared in pyproject.toml (as a
dependency or in an extra), every declared dependency is pinned in requirements.lock, and the pin
satisfies the declared range.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party module -> the files importing it (absolute imports, any depth)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "larkdou").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "larkdou" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def declared() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = [Requirement(r) for r in project["dependencies"]]
    extras = [Requirement(r) for reqs in project.get("optional-dependencies", {}).values() for r in reqs]
    return core, extras


def locked() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, _, version = line.partition("==")
            pins[normalise(name.strip())] = Version(version.strip())
    return pins


def test_every_imported_module_is_declared():
    core, extras = declared()
    names = {normalise(r.name) for r in core + extras}
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for module, files in imported_modules().items():
        # an installed module maps to its distribution; an optional one not installed here
        # (sentence_transformers) is known by its own name
        candidates = {normalise(d) for d in distributions.get(module, [])} or {normalise(module)}
        if not candidates & names:
            missing[module] = sorted(files)
    assert not missing, f"imported by larkdou/ but not declared in pyproject.toml: {missing}"


def test_the_scan_sees_the_document_readers():
    modules = imported_modules()
    assert {"docutils", "bs4", "pypdf", "docx", "markdown_it", "numpy", "lark_oapi"} <= set(modules)


def test_every_dependency_is_pinned_within_its_range():
    core, _ = declared()
    pins = locked()
    for req in core:
        pin = pins.get(normalise(req.name))
        assert pin is not None, f"{req.name} is not pinned in requirements.lock"
        assert req.specifier.contains(pin, prereleases=True), f"{req.name}=={pin} is outside {req.specifier}"


def test_lark_oapi_is_held_to_the_tested_minor_version():
    core, _ = declared()
    (lark,) = [r for r in core if normalise(r.name) == "lark-oapi"]
    assert lark.specifier.contains("1.7.5") and not lark.specifier.contains("1.8.0")
