"""One chunker for every format: pack a document's blocks into chunks that respect its structure.

A chunk belongs to one section and carries its heading path ("Install › From source › GPU") as its
title. Code blocks, tables and list items stay whole and keep their newlines; only a block larger
than the chunk size is split: prose at sentence ends (Chinese and English), code at blank lines and
then lines (each piece fenced again), tables between rows (the header repeated). Whole sentences of
prose, up to `overlap` characters, are carried into the next chunk of the same section.

A chunk's id is a hash of its source, heading path and text, so an unchanged passage keeps its id
across rebuilds and its tokens and embedding can be reused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from larkdou.kb.document import Document, Section, fence

CHUNKER_VERSION = 2  # bump when the same document would be cut differently
# a sentence ends after Chinese 。！？； or English .!?; followed by a space, or at a line break
_SENTENCE_END = re.compile(r"(?<=[。！？；])|(?<=[.!?;])(?=\s)|\n+")
_FENCE = re.compile(r"\A(`{3,})([^\n]*)\n(.*)\n\1\Z", re.DOTALL)
_CJK_END = re.compile(r"[\u3000-\u9fff\uff00-\uffef]$")
_CJK_START = re.compile(r"^[\u3000-\u9fff\uff00-\uffef]")


@dataclass
class Chunk:
    id: str
    source: str  # path relative to the document folder
    heading: str  # the heading path, " › "-separated; "" before the first heading
    text: str  # light Markdown (see larkdou.kb.document)
    tokens: list[str] = field(default_factory=list)
    title: str = ""  # the document's title (its first heading), when it has one
    anchor: str = ""  # the section's anchor in the rendered page

    @property
    def citation(self) -> str:
        return f"{self.source} › {self.heading}" if self.heading else self.source

    def index_text(self) -> str:
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Chunk":
        return cls(id=data["id"], source=data["source"], heading=data.get("heading", ""), text=data["text"],
                   tokens=list(data.get("tokens") or []), title=data.get("title", ""), anchor=data.get("anchor", ""))


def chunk_id(source: str, heading: str, text: str, title: str = "", anchor: str = "") -> str:
    return hashlib.sha256(f"{source}\x00{heading}\x00{text}\x00{title}\x00{anchor}".encode()).hexdigest()[:20]


@dataclass
class _Unit:
    kind: str
    text: str
    cont: bool = False  # continues the previous unit's paragraph (a sentence of a split paragraph)


def sentences(text: str) -> list[str]:
    """The sentences of a paragraph (Chinese and English sentence ends, line breaks)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _hard_split(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] if len(text) > size else [text]


def _pack(parts: list[str], size: int, sep: str) -> list[str]:
    out: list[str] = []
    for part in parts:
        if out and len(out[-1]) + len(sep) + len(part) <= size:
            out[-1] += sep + part
        else:
            out.append(part)
    return out


def _split_code(text: str, size: int) -> list[str]:
    m = _FENCE.match(text)
    ticks, lang, code = (m.group(1), m.group(2), m.group(3)) if m else ("```", "", text)
    budget = max(size - 2 * len(ticks) - len(lang) - 2, 20)
    parts = [p.strip("\n") for p in re.split(r"\n\s*\n", code) if p.strip()]
    lines = [ln for p in parts for ln in (p.split("\n") if len(p) > budget else [p])]
    pieces = _pack([piece for ln in lines for piece in _hard_split(ln, budget)], budget, "\n")
    return [fence(p, lang) for p in pieces]


def _split_table(text: str, size: int) -> list[str]:
    rows = text.split("\n")
    head, body = rows[:2], rows[2:]
    header = "\n".join(head)
    pieces = _pack(body, max(size - len(header) - 1, 20), "\n")
    return [f"{header}\n{p}" for p in pieces] or [header]


def _split_lines(text: str, size: int) -> list[str]:
    """A list item (or other block) at line boundaries, a fenced region kept whole when it fits."""
    groups: list[str] = []
    in_fence = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if in_fence:
            groups[-1] += "\n" + line
            if stripped.startswith(in_fence):
                in_fence = ""
            continue
        m = re.match(r"(`{3,})", stripped)
        if m:
            in_fence = m.group(1)
        groups.append(line)
    return [p for g in _pack(groups, size, "\n") for p in _hard_split(g, size)]


def _units(section: Section, size: int) -> list[_Unit]:
    units: list[_Unit] = []
    for block in section.blocks:
        if len(block.text) <= size:
            units.append(_Unit(block.kind, block.text))
        elif block.kind == "text":
            parts = [p for s in sentences(block.text) for p in _hard_split(s, size)]
            units.extend(_Unit("text", p, cont=i > 0) for i, p in enumerate(parts))
        elif block.kind == "code":
            units.extend(_Unit("code", p) for p in _split_code(block.text, size))
        elif block.kind == "table":
            units.extend(_Unit("table", p) for p in _split_table(block.text, size))
        else:
            units.extend(_Unit(block.kind, p, cont=i > 0) for i, p in enumerate(_split_lines(block.text, size)))
    return units


def _joiner(prev: _Unit, unit: _Unit) -> str:
    if unit.cont and unit.kind == "text":
        return "" if _CJK_END.search(prev.text) and _CJK_START.search(unit.text) else " "
    if unit.cont or prev.kind == unit.kind == "item":
        return "\n"
    return "\n\n"


def _render(units: list[_Unit]) -> str:
    text = units[0].text
    for prev, unit in zip(units, units[1:]):
        text += _joiner(prev, unit) + unit.text
    return text


def _length(units: list[_Unit]) -> int:
    return sum(len(u.text) for u in units) + 2 * max(len(units) - 1, 0)


def split_units(section: Section, size: int, overlap: int) -> list[str]:
    """The texts of one section's chunks, each at most about `size` characters."""
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in _units(section, size):
        if current and _length(current) + 2 + len(unit.text) > size:
            chunks.append(current)
            carry: list[_Unit] = []
            for prev in reversed(current):
                if prev.kind != "text" or _length(carry) + len(prev.text) > overlap:
                    break
                carry.insert(0, prev)
            current = carry if carry and len(carry) < len(current) else []
            if current:
                current[0] = _Unit(current[0].kind, current[0].text)  # a carried sentence opens the chunk
        current.append(unit)
    if current:
        chunks.append(current)
    return [_render(units) for units in chunks]


def chunk_document(source: str, document: Document, size: int, overlap: int) -> list[Chunk]:
    """Chunks of one document, in reading order, each with a content-hash id."""
    chunks: list[Chunk] = []
    seen: set[str] = set()
    title = document.title
    for section in document.sections:
        for text in split_units(section, size, overlap):
            cid = chunk_id(source, section.heading, text, title, section.anchor)
            if cid not in seen:
                seen.add(cid)
                chunks.append(Chunk(cid, source, section.heading, text, title=title, anchor=section.anchor))
    return chunks
