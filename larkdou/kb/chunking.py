"""Split sections into overlapping chunks that respect Chinese and English sentence ends.

A chunk's id is a hash of its source, heading and text, so an unchanged passage keeps its id across
rebuilds and its tokens and embedding can be reused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from larkdou.kb.loaders import Section

# a sentence ends after Chinese 。！？； or English .!?; followed by a space, or at a line break
_SENTENCE_END = re.compile(r"(?<=[。！？；])|(?<=[.!?;])(?=\s)|\n+")
_PARAGRAPH = re.compile(r"\n\s*\n")


@dataclass
class Chunk:
    id: str
    source: str  # path relative to the document folder
    heading: str
    text: str
    tokens: list[str] = field(default_factory=list)

    @property
    def citation(self) -> str:
        return f"{self.source} › {self.heading}" if self.heading else self.source

    def index_text(self) -> str:
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Chunk":
        return cls(id=data["id"], source=data["source"], heading=data.get("heading", ""),
                   text=data["text"], tokens=list(data.get("tokens") or []))


def chunk_id(source: str, heading: str, text: str) -> str:
    return hashlib.sha256(f"{source}\x00{heading}\x00{text}".encode()).hexdigest()[:20]


def _units(text: str, code: bool) -> list[str]:
    if code:
        return [p.strip("\n") for p in _PARAGRAPH.split(text) if p.strip()]
    out: list[str] = []
    for para in _PARAGRAPH.split(text):
        out.extend(s.strip() for s in _SENTENCE_END.split(para) if s and s.strip())
    return out


def _hard_split(unit: str, size: int) -> list[str]:
    if len(unit) <= size:
        return [unit]
    if "\n" in unit:  # long code block: split on lines first
        pieces, cur = [], ""
        for line in unit.split("\n"):
            if cur and len(cur) + len(line) + 1 > size:
                pieces.append(cur)
                cur = ""
            cur = f"{cur}\n{line}" if cur else line
        if cur:
            pieces.append(cur)
        return [p for piece in pieces for p in _hard_split(piece, size)] if any(len(p) > size for p in pieces) else pieces
    return [unit[i:i + size] for i in range(0, len(unit), size)]


def _join(units: list[str]) -> str:
    text = ""
    for u in units:
        if not text:
            text = u
        elif re.match(r"[\u3000-\u9fff\uff00-\uffef]", u[:1]) and re.search(r"[\u3000-\u9fff\uff00-\uffef]$", text):
            text += u  # Chinese sentences join without a space
        else:
            text += " " + u if not ("\n" in u or "\n" in text) else "\n" + u
    return text


def split_section(text: str, size: int, overlap: int, *, code: bool = False) -> list[str]:
    """Pack sentences (or code paragraphs) into pieces of at most `size` characters, carrying the
    last `overlap` characters' worth of whole sentences into the next piece."""
    units = [p for u in _units(text, code) for p in _hard_split(u, size)]
    pieces: list[str] = []
    current: list[str] = []
    length = 0
    for unit in units:
        if current and length + len(unit) > size:
            pieces.append(_join(current))
            carry: list[str] = []
            carried = 0
            for prev in reversed(current):
                if carried + len(prev) > overlap:
                    break
                carry.insert(0, prev)
                carried += len(prev)
            current, length = carry, carried
        current.append(unit)
        length += len(unit)
    if current:
        pieces.append(_join(current))
    return pieces


def chunk_sections(source: str, sections: Iterable[Section], size: int, overlap: int,
                   *, code: bool = False) -> list[Chunk]:
    """Chunks of one document, in reading order, each with a content-hash id."""
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for section in sections:
        for piece in split_section(section.text, size, overlap, code=code):
            cid = chunk_id(source, section.heading, piece)
            if cid not in seen:
                seen.add(cid)
                chunks.append(Chunk(cid, source, section.heading, piece))
    return chunks
