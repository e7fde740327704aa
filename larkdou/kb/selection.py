"""Which files of a document folder go into the knowledge base.

A file is indexed when it matches an include and no exclude (gitignore-style patterns, matched
against the path relative to the folder):
- includes: the documentation formats (`DOC_PATTERNS`) plus `[kb] include` / `kb build --include`,
  which is how source code and build files get in ("*.py", "src/**/*.go");
- excludes: `DEFAULT_EXCLUDES` (Sphinx `conf.py`, `_templates/`, `_static/`, build folders,
  `node_modules/`, Makefiles, lock files, licences) plus `[kb] exclude` / `kb build --exclude`.
Hidden files and folders (a name starting with ".") are always left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from larkdou.errors import KnowledgeBaseError

DOC_PATTERNS = ("*.md", "*.markdown", "*.rst", "*.txt", "*.html", "*.htm", "*.pdf", "*.docx")

DEFAULT_EXCLUDES = (
    # Sphinx / MkDocs scaffolding: configuration, page templates, static assets, build output
    "conf.py", "_templates/", "_static/", "_build/", "site/",
    # dependencies and build output
    "node_modules/", "bower_components/", "vendor/", "__pycache__/", "*.egg-info/", "build/", "dist/", "target/",
    "venv/", "env/", "htmlcov/",
    # build and packaging files, lock files, generated or minified assets
    "Makefile", "makefile", "make.bat", "CMakeLists.txt", "*.lock", "package-lock.json", "pnpm-lock.yaml",
    "*.min.js", "*.min.css", "*.map",
    # licence texts say nothing a user asks the bot about
    "LICENSE", "LICENSE.*", "LICENCE", "LICENCE.*", "COPYING", "COPYING.*",
)


@dataclass
class Selection:
    """The files to index, and how many were left out by each rule (for the build report)."""

    paths: list[Path] = field(default_factory=list)
    excluded: int = 0  # matched an exclude pattern
    not_included: int = 0  # not a documentation format and no include pattern


def _spec(patterns: list[str] | tuple[str, ...], what: str) -> pathspec.PathSpec:
    try:
        return pathspec.GitIgnoreSpec.from_lines(list(patterns))
    except (ValueError, TypeError) as exc:
        raise KnowledgeBaseError(f"{what}: bad pattern ({exc})") from None


def select_documents(docs_dir: Path, include: list[str] | tuple[str, ...] = (),
                     exclude: list[str] | tuple[str, ...] = ()) -> Selection:
    """The files under `docs_dir` to index, sorted; see the module docstring for the rules."""
    if not docs_dir.is_dir():
        raise KnowledgeBaseError(f"document folder not found: {docs_dir}")
    includes = _spec((*DOC_PATTERNS, *include), "[kb] include")
    excludes = _spec((*DEFAULT_EXCLUDES, *exclude), "[kb] exclude")
    out = Selection()
    for path in sorted(docs_dir.rglob("*")):
        rel = path.relative_to(docs_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        name = rel.as_posix()
        if excludes.match_file(name):
            out.excluded += 1
        elif not includes.match_file(name):
            out.not_included += 1
        else:
            out.paths.append(path)
    return out
