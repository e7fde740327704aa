"""Document loaders: a file in, its text as titled sections out.

Each format is read with its own well-kept parser: markdown-it-py, docutils, BeautifulSoup, pypdf,
python-docx. Plain text and source files are read as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from larkdou.errors import KnowledgeBaseError

SOURCE_SUFFIXES = frozenset(
    ".py .js .mjs .ts .tsx .jsx .go .java .kt .c .h .cc .cpp .hpp .rs .rb .php .cs .swift .lua .sh .bash "
    ".sql .toml .ini .cfg .yaml .yml .json .proto".split())
TEXT_SUFFIXES = frozenset({".txt", ".text", ".log", ".csv"})
MAX_FILE_BYTES = 30 * 1024 * 1024


@dataclass
class Section:
    heading: str  # "" when the format has no headings
    text: str


def _markdown(path: Path) -> list[Section]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(path.read_text(encoding="utf-8", errors="replace"))
    sections = [Section("", "")]
    parts: list[str] = []
    in_heading = False
    for tok in tokens:
        if tok.type == "heading_open":
            in_heading = True
        elif tok.type == "heading_close":
            in_heading = False
        elif tok.type == "inline":
            text = "".join(c.content if c.type not in ("softbreak", "hardbreak") else "\n"
                           for c in tok.children or [])
            if in_heading:
                sections[-1].text = "\n\n".join(parts)
                parts = []
                sections.append(Section(text.strip(), ""))
            else:
                parts.append(text)
        elif tok.type in ("fence", "code_block", "html_block"):
            parts.append(tok.content.rstrip())
    sections[-1].text = "\n\n".join(parts)
    return sections


def _rst(path: Path) -> list[Section]:
    from docutils import nodes
    from docutils.core import publish_doctree

    doctree = publish_doctree(path.read_text(encoding="utf-8", errors="replace"),
                              settings_overrides={"report_level": 5, "halt_level": 5, "file_insertion_enabled": False,
                                                  "raw_enabled": False})
    sections: list[Section] = []

    def walk(node: nodes.Node, heading: str) -> None:
        texts = []
        for child in node.children:
            if isinstance(child, nodes.section):
                continue
            if isinstance(child, nodes.title):
                continue
            texts.append(child.astext())
        sections.append(Section(heading, "\n\n".join(t for t in texts if t.strip())))
        for child in node.children:
            if isinstance(child, nodes.section):
                title = child.next_node(nodes.title)
                walk(child, title.astext() if title is not None else heading)

    title = doctree.next_node(nodes.title)
    walk(doctree, title.astext() if title is not None and title.parent is doctree else "")
    return sections


_MARK = "\x00H\x00"


def _html(path: Path) -> list[Section]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes(), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    for tag in soup.find_all(re.compile(r"^h[1-6]$")):
        tag.replace_with(f"\n{_MARK}{tag.get_text(' ', strip=True)}\n")
    text = soup.get_text("\n")
    sections: list[Section] = []
    for i, part in enumerate(text.split(_MARK)):
        heading, _, body = part.partition("\n") if i else ("", "", part)
        sections.append(Section(heading.strip(), re.sub(r"\n\s*\n+", "\n\n", body).strip()))
    return sections


def _pdf(path: Path) -> list[Section]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return [Section(f"p. {n}", page.extract_text() or "") for n, page in enumerate(reader.pages, 1)]


def _docx(path: Path) -> list[Section]:
    import docx

    document = docx.Document(str(path))
    sections = [Section("", "")]
    parts: list[str] = []
    for para in document.paragraphs:
        style = (para.style.name or "") if para.style is not None else ""
        if style.startswith(("Heading", "Title")) and para.text.strip():
            sections[-1].text = "\n".join(parts)
            parts = []
            sections.append(Section(para.text.strip(), ""))
        elif para.text.strip():
            parts.append(para.text)
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    sections[-1].text = "\n".join(parts)
    return sections


def _plain(path: Path) -> list[Section]:
    return [Section("", path.read_text(encoding="utf-8", errors="replace"))]


LOADERS: dict[str, Callable[[Path], list[Section]]] = {
    ".md": _markdown, ".markdown": _markdown, ".rst": _rst, ".html": _html, ".htm": _html,
    ".pdf": _pdf, ".docx": _docx,
    **{s: _plain for s in TEXT_SUFFIXES | SOURCE_SUFFIXES},
}


def supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load_file(path: Path) -> list[Section]:
    """Read one document into sections; a file its parser rejects is a KnowledgeBaseError."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise KnowledgeBaseError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, skipped")
    try:
        sections = LOADERS[path.suffix.lower()](path)
    except KnowledgeBaseError:
        raise
    except Exception as exc:  # each parser has its own exception types
        raise KnowledgeBaseError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    return [s for s in sections if s.text.strip() or s.heading]


def iter_documents(docs_dir: Path) -> Iterator[Path]:
    """Supported files under `docs_dir`, sorted, hidden files and folders left out."""
    if not docs_dir.is_dir():
        raise KnowledgeBaseError(f"document folder not found: {docs_dir}")
    for path in sorted(docs_dir.rglob("*")):
        rel = path.relative_to(docs_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and supported(path):
            yield path
