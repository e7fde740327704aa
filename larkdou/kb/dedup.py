"""Drop chunks whose text another chunk already has (an untranslated paragraph in an en and a zh
copy, the same table in README and docs), so a reply never shows the same excerpt twice.

Texts are compared with case, whitespace and punctuation ignored. Of each group of copies, the one
kept is the first (in path order) that sits in a document of its own language — English text in the
English document rather than in its Chinese translation — or else simply the first.
"""

from __future__ import annotations

import re
from collections import defaultdict

from larkdou.kb.chunking import Chunk
from larkdou.kb.document import language

_NOT_WORD = re.compile(r"[\W_]+")


def text_key(text: str) -> str:
    key = _NOT_WORD.sub("", text.lower())
    return key or text


def drop_duplicates(chunks: list[Chunk]) -> tuple[list[Chunk], list[Chunk]]:
    """(kept, dropped): `chunks` without the copies, in their original order."""
    by_file: dict[str, list[str]] = defaultdict(list)
    groups: dict[str, list[Chunk]] = defaultdict(list)
    for c in chunks:
        by_file[c.source].append(c.text)
        groups[text_key(c.text)].append(c)
    file_language = {source: language("\n".join(texts)) for source, texts in by_file.items()}
    keep: set[int] = set()
    for copies in groups.values():
        lang = language(copies[0].text)
        best = next((c for c in copies if file_language[c.source] == lang), copies[0])
        keep.add(id(best))
    kept = [c for c in chunks if id(c) in keep]
    dropped = [c for c in chunks if id(c) not in keep]
    return kept, dropped
