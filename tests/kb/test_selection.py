"""Which files a build reads: documentation by default, other files when asked, never scaffolding."""

from __future__ import annotations

from pathlib import Path

import pytest

from larkdou.errors import KnowledgeBaseError
from larkdou.kb.selection import select_documents
from tests.kb.helpers import write_docs

TREE = ["README.md", "docs/en/index.rst", "docs/en/conf.py", "docs/en/_templates/404.html",
        "docs/en/_templates/callable.rst", "docs/en/_static/js/custom.js", "docs/en/Makefile", "docs/guide.pdf",
        "docs/zh/intro.txt", "docs/api.html", "docs/build/old.md", "node_modules/x/README.md", ".github/notes.md",
        "docs/.hidden.md", "src/app.py", "src/app.go", "config.yaml", "poetry.lock", "LICENSE", "run.sh",
        "figure.png"]


def _selected(root: Path, include: list[str] | None = None, exclude: list[str] | None = None) -> list[str]:
    return [p.relative_to(root).as_posix() for p in select_documents(root, include or [], exclude or []).paths]


def test_documentation_formats_by_default_without_scaffolding(tmp_path: Path) -> None:
    write_docs(tmp_path, {name: "x" for name in TREE})
    assert _selected(tmp_path) == ["README.md", "docs/api.html", "docs/en/index.rst", "docs/guide.pdf",
                                   "docs/zh/intro.txt"]
    selection = select_documents(tmp_path)
    assert selection.excluded == 9  # conf.py, 2 templates, _static js, Makefile, build/, node_modules, lock, LICENSE
    assert selection.excluded + selection.not_included + len(selection.paths) == len(TREE) - 2  # hidden ones


def test_source_files_only_when_included_and_excludes_win(tmp_path: Path) -> None:
    write_docs(tmp_path, {name: "x" for name in TREE})
    assert _selected(tmp_path, include=["*.py", "src/*.go"]) == [
        "README.md", "docs/api.html", "docs/en/index.rst", "docs/guide.pdf", "docs/zh/intro.txt", "src/app.go",
        "src/app.py"]  # docs/en/conf.py stays out: a default exclude
    assert _selected(tmp_path, exclude=["docs/"]) == ["README.md"]
    assert _selected(tmp_path, exclude=["*.txt", "/README.md"]) == ["docs/api.html", "docs/en/index.rst",
                                                                    "docs/guide.pdf"]


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="not found"):
        select_documents(tmp_path / "nope")
