"""Outgoing text: idempotency keys and splitting long answers into parts Lark accepts.

Lark accepts a text message whose request body is at most 150 KB. The text travels JSON-encoded
twice (the `content` field is itself a JSON string), so size is measured on that encoded form:
a Chinese character costs 3 bytes, a newline 3, a quote 4, plain ASCII 1.
"""

from __future__ import annotations

import hashlib
import json

TEXT_BODY_MAX = 150 * 1024  # Lark's request-body limit for msg_type=text
TEXT_LIMIT = 60 * 1024  # default size of one part: well under the limit, leaves room for the envelope
UUID_MAX = 50  # Lark's limit on the `uuid` idempotency key

# Preferred cut points, best first: paragraph, line, sentence end, clause, word. "" = anywhere.
_SEPARATORS = ("\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "; ", "，", ", ", " ", "")
_WRAP = len(json.dumps(json.dumps("")))


def text_content(text: str) -> str:
    """The `content` field of a text message."""
    return json.dumps({"text": text}, ensure_ascii=False)


def encoded_size(text: str) -> int:
    """Bytes `text` adds to a request body once encoded as a text message's content."""
    inner = json.dumps(text, ensure_ascii=False)
    return len(json.dumps(inner, ensure_ascii=False).encode("utf-8")) - _WRAP


def reply_uuid(source_msg_id: str, index: int = 0) -> str:
    """The idempotency key of part `index` of the answer to `source_msg_id`.

    Deterministic, so a retried request or a redelivered event reuses it and Lark posts at most
    once (within its one-hour uuid window); different for every part.
    """
    if not source_msg_id:
        raise ValueError("source_msg_id must not be empty")
    if index < 0:
        raise ValueError("index must be >= 0")
    digest = hashlib.sha256(f"{source_msg_id}\x00{index}".encode("utf-8")).hexdigest()
    return f"ld{index}-{digest}"[:UUID_MAX]


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split `text` into parts of at most `limit` encoded bytes (see `encoded_size`).

    Cuts on paragraph boundaries when it can, then lines, sentences, words, and only as a last
    resort inside a word. Parts keep their text in order; blank parts are dropped.
    """
    if limit < 16:
        raise ValueError("limit must be at least 16 bytes")
    parts = _split(text, limit, 0)
    return [p.strip("\n") for p in parts if p.strip()]


def _split(text: str, limit: int, level: int) -> list[str]:
    if encoded_size(text) <= limit:
        return [text]
    sep = _SEPARATORS[level]
    if sep == "":
        return _split_anywhere(text, limit)
    pieces = _pieces(text, sep)
    if len(pieces) == 1:
        return _split(text, limit, level + 1)
    parts: list[str] = []
    current, current_size = "", 0
    for piece in pieces:
        size = encoded_size(piece)
        if current and current_size + size > limit:
            parts.append(current)
            current, current_size = "", 0
        if size > limit:
            parts.extend(_split(piece, limit, level + 1))
            continue
        current += piece
        current_size += size
    if current:
        parts.append(current)
    return parts


def _pieces(text: str, sep: str) -> list[str]:
    """`text` cut after each `sep` (the separator stays with the piece before it)."""
    chunks = text.split(sep)
    pieces = [c + sep for c in chunks[:-1]]
    if chunks[-1]:
        pieces.append(chunks[-1])
    return pieces


def _split_anywhere(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    current, current_size = [], 0
    for ch in text:
        size = encoded_size(ch)
        if current and current_size + size > limit:
            parts.append("".join(current))
            current, current_size = [], 0
        current.append(ch)
        current_size += size
    if current:
        parts.append("".join(current))
    return parts
