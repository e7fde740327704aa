"""Document loaders: a file in, clean text as sections under their heading paths out.

Each format is read with its own well-kept parser: markdown-it-py (`md_loader`), docutils
(`rst_loader`), BeautifulSoup (`html_loader`), pypdf, python-docx. Plain text and source files are
read as they are (source files as one code block per blank-line-separated part).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from larkdou.errors import KnowledgeBaseError
from larkdou.kb.document import Block, Document, Section, SectionBuilder, fence, pipe_table
from larkdou.kb.html_loader import load_html
from larkdou.kb.md_loader import load_markdown
from larkdou.kb.rst_loader import load_rst

SOURCE_SUFFIXES = frozenset(
    ".py .js .mjs .ts .tsx .jsx .go .java .kt .c .h .cc .cpp .hpp .rs .rb .php .cs .swift .lua .sh .bash "
    ".sql .toml .ini .cfg .conf .yaml .yml .json .proto .css .scss .vue".split())
TEXT_SUFFIXES = frozenset({".txt", ".text", ".log", ".csv"})
MAX_FILE_BYTES = 30 * 1024 * 1024
_PARAGRAPH = re.compile(r"\n\s*\n")


def _pdf(path: Path) -> Document:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    sections = []
    for n, page in enumerate(reader.pages, 1):
        text = page.extract_text() or ""
        sections.append(Section((f"p. {n}",), [Block("text", p.strip()) for p in _PARAGRAPH.split(text) if p.strip()]))
    return Document(sections)


def _docx(path: Path) -> Document:
    import docx

    document = docx.Document(str(path))
    out = SectionBuilder()
    for para in document.paragraphs:
        style = (para.style.name or "") if para.style is not None else ""
        text = para.text.strip()
        if not text:
            continue
        if style.startswith(("Heading", "Title")):
            level = int(style.rsplit(" ", 1)[-1]) if style[-1:].isdigit() else 1
            out.heading(level, text)
        elif style.startswith("List"):
            out.add("item", f"- {text}")
        else:
            out.add("text", text)
    for table in document.tables:
        out.add("table", pipe_table([[cell.text.strip() for cell in row.cells] for row in table.rows]))
    return out.done()


def _plain(path: Path) -> Document:
    text = path.read_text(encoding="utf-8", errors="replace")
    return Document([Section((), [Block("text", p.strip("\n")) for p in _PARAGRAPH.split(text) if p.strip()])])


def _source(path: Path) -> Document:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise KnowledgeBaseError(f"{path}: a binary file, skipped")
    text = data.decode("utf-8", errors="replace").strip("\n")
    return Document([Section((), [Block("code", fence(text, path.suffix.lstrip(".").lower()))] if text.strip() else [])])


LOADERS: dict[str, Callable[[Path], Document]] = {
    ".md": load_markdown, ".markdown": load_markdown, ".rst": load_rst, ".html": load_html, ".htm": load_html,
    ".pdf": _pdf, ".docx": _docx,
    **{s: _plain for s in TEXT_SUFFIXES},
    **{s: _source for s in SOURCE_SUFFIXES},
}


def supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load_file(path: Path) -> Document:
    """Read one document; a file its parser rejects is a KnowledgeBaseError. A file of another
    format (selected by an include pattern) is read as source text."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise KnowledgeBaseError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, skipped")
    try:
        document = LOADERS.get(path.suffix.lower(), _source)(path)
    except KnowledgeBaseError:
        raise
    except Exception as exc:  # each parser has its own exception types
        raise KnowledgeBaseError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    document.sections = [s for s in document.sections if s.blocks]
    return document
