"""What a loader returns: clean text in sections under their heading path, with structure marked.

A section's blocks are the units the chunker keeps whole when they fit: a paragraph ("text"), a
fenced code block ("code"), a pipe table ("table"), one top-level list item ("item"). Block text is
light Markdown (fences, pipe rows, list markers, `inline code`) that reads well as plain text and
renders in a Lark card.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

PATH_SEPARATOR = " › "
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LETTER = re.compile(r"[^\W\d_]")
BLOCK_KINDS = ("text", "code", "table", "item")


@dataclass
class Block:
    kind: str  # one of BLOCK_KINDS
    text: str


@dataclass
class Section:
    path: tuple[str, ...]  # heading path, outermost first; () before the first heading
    blocks: list[Block] = field(default_factory=list)
    anchor: str = ""  # the last heading's anchor in the rendered page (GitHub slug for Markdown)

    @property
    def heading(self) -> str:
        return PATH_SEPARATOR.join(self.path)

    @property
    def text(self) -> str:
        return join_blocks(self.blocks)


@dataclass
class Document:
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # parser complaints, reported by the build

    @property
    def title(self) -> str:
        """The first heading of the document, or "" when it has none."""
        return next((s.path[0] for s in self.sections if s.path), "")


def language(text: str, share: float = 0.1) -> str:
    """"zh" when Chinese characters are at least `share` of the letters, otherwise "en"."""
    letters = len(_LETTER.findall(text))
    return "zh" if letters and len(_CJK.findall(text)) >= share * letters else "en"


def join_blocks(blocks: list[Block]) -> str:
    """Blocks as one Markdown text: consecutive list items on adjacent lines, others a blank line apart."""
    out = ""
    prev: Block | None = None
    for b in blocks:
        if prev is None:
            out = b.text
        else:
            out += ("\n" if b.kind == prev.kind == "item" else "\n\n") + b.text
        prev = b
    return out


def fence(code: str, lang: str = "") -> str:
    """A fenced code block; the fence is longer than any backtick run inside."""
    longest = max((len(m) for m in re.findall(r"`{3,}", code)), default=2)
    ticks = "`" * (longest + 1)
    return f"{ticks}{lang}\n{code.rstrip()}\n{ticks}"


def pipe_table(rows: list[list[str]]) -> str:
    """Rows of cell texts (the first is the header) as a Markdown pipe table, one row a line."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)

    def line(cells: list[str]) -> str:
        cells = [" ".join(c.replace("|", "\\|").split()) for c in cells] + [""] * (width - len(cells))
        return "| " + " | ".join(cells) + " |"

    return "\n".join([line(rows[0]), "|" + " --- |" * width] + [line(r) for r in rows[1:]])


def list_item(marker: str, blocks: list[tuple[str, str]]) -> str:
    """One list item as Markdown: the marker, then its (kind, text) blocks indented under it; a nested
    list right under the line above it, other blocks (code, tables, paragraphs) a blank line apart."""
    body = ""
    for i, (kind, text) in enumerate(blocks):
        if i:
            body += "\n" if kind == "item" else "\n\n"
        body += text
    if not body.strip():
        return ""
    first, _, rest = body.partition("\n")
    pad = " " * len(marker)
    return marker + first + ("\n" + "\n".join(pad + ln if ln else ln for ln in rest.split("\n")) if rest else "")


def clean_heading(text: str) -> str:
    """A heading as shown in a heading path: emoji and decorative symbols removed, spaces collapsed."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Sk", "Cn", "Co")
                   and not ("\ufe00" <= ch <= "\ufe0f" or ch == "\u200d"))
    return " ".join(kept.split()).strip(" -–—:：|")


_SLUG_DROP = re.compile(r"[^\w\- ]", re.UNICODE)


class Slugger:
    """GitHub's heading anchors: lower-cased, punctuation and emoji dropped, spaces to "-", and
    "-1", "-2" … appended to repeats within one document."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def slug(self, heading: str) -> str:
        base = _SLUG_DROP.sub("", heading.lower()).replace(" ", "-")
        n = self._seen[base]
        self._seen[base] += 1
        return base if n == 0 else f"{base}-{n}"


class SectionBuilder:
    """Collects blocks under a heading stack while a loader walks a document."""

    def __init__(self) -> None:
        self.doc = Document()
        self._stack: list[tuple[int, str]] = []
        self._current = Section(())
        self.doc.sections.append(self._current)

    def heading(self, level: int, title: str, anchor: str = "") -> None:
        title = clean_heading(title)
        if not title:
            return
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))
        self._current = Section(tuple(t for _, t in self._stack), anchor=anchor)
        self.doc.sections.append(self._current)

    def add(self, kind: str, text: str) -> None:
        if text.strip():
            self._current.blocks.append(Block(kind, text.strip("\n")))

    def warn(self, message: str) -> None:
        self.doc.warnings.append(message)

    def done(self) -> Document:
        self.doc.sections = [s for s in self.doc.sections if s.blocks or s.path]
        return self.doc
