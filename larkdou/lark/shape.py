"""Typed reads of the fields larkdou uses from a Lark event payload.

Every field the gateway reads goes through one of these: a field of the wrong type is an
`EventError` that names it (`bad_field`, HTTP 400), never a TypeError deep in the code. A missing
or null optional field reads as its empty value. JSON text is parsed by `json_object`, which turns
nesting too deep for the parser into the same clear error.
"""

from __future__ import annotations

import json
from typing import Any

from larkdou.errors import EventError

MAX_ID_CHARS = 512  # Lark's ids are well under 100 characters


def bad(where: str, expected: str) -> EventError:
    return EventError(f"{where} must be {expected}", reason="bad_field")


def json_object(raw: bytes | str, what: str, *, reason: str = "not_json") -> dict[str, Any]:
    """`raw` parsed as a JSON object; EventError(reason) for anything else, including nesting too
    deep for the parser (RecursionError) and bytes that are not UTF-8."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise EventError(f"{what} is not JSON", reason=reason) from None
    if not isinstance(obj, dict):
        raise EventError(f"{what} is not a JSON object", reason=reason)
    return obj


def table(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> dict[str, Any]:
    """A JSON object field; {} when absent or null (unless required: then missing_fields)."""
    value = obj.get(key)
    if value is None:
        if required:
            raise EventError(f"{where}.{key} is missing", reason="missing_fields")
        return {}
    if not isinstance(value, dict):
        raise bad(f"{where}.{key}", "an object")
    return value


def items(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    """A JSON array field; [] when absent or null."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad(f"{where}.{key}", "a list")
    return value


def text(obj: dict[str, Any], key: str, where: str, *, required: bool = False, max_chars: int | None = None) -> str:
    """A string field; "" when absent or null. `required` also refuses the empty string."""
    value = obj.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise bad(f"{where}.{key}", "a string")
    if required and not value:
        raise EventError(f"{where}.{key} is missing", reason="missing_fields")
    if max_chars is not None and len(value) > max_chars:
        raise bad(f"{where}.{key}", f"at most {max_chars} characters")
    return value


def ident(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    """An id field (message_id, chat_id, open_id, …): a string of at most MAX_ID_CHARS."""
    return text(obj, key, where, required=required, max_chars=MAX_ID_CHARS)


def millis(obj: dict[str, Any], key: str, where: str) -> int:
    """A time in epoch milliseconds, sent as a digit string (or a number); 0 when absent."""
    value = obj.get(key)
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise bad(f"{where}.{key}", "a time in milliseconds")
    raw = str(value)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16:
        raise bad(f"{where}.{key}", "a time in milliseconds")
    return int(raw)


def encodable(value: str) -> bool:
    """False for strings that cannot be stored as UTF-8 (lone surrogates from `\\ud800` escapes)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
