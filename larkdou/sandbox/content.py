"""Message content as Lark carries it: a JSON string whose shape depends on `msg_type`.

The sandbox checks what a client sends the way the Open API does (230001 for a malformed body,
230025 when the request body is over the limit, 230099 for a card Lark would not build) and turns
any content into the plain text the web page and tests show.
"""

from __future__ import annotations

import json
import re
from typing import Any

from larkdou.sandbox.cardcheck import CardError, check_card, update_multi

__all__ = ["ContentError", "check", "json_text", "to_text", "update_multi"]

# Request body limits of the send/reply/update APIs (reference §4.2): 150 KB for text, 30 KB for card/post.
TEXT_LIMIT = 150 * 1024
RICH_LIMIT = 30 * 1024
MSG_TYPES = {"text", "post", "interactive", "image", "file", "audio", "media", "sticker",
             "share_chat", "share_user", "system"}


_AT_TAG = re.compile(r'<at user_id="[^"]*">([^<]*)</at>')


def json_text(text: str) -> str:
    """The `content` of a text message."""
    return json.dumps({"text": text}, ensure_ascii=False, separators=(",", ":"))


class ContentError(ValueError):
    """Content that the Open API would refuse; `code` is the Lark error code."""

    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code = code
        self.msg = msg


def check(msg_type: object, content: object, body_size: int = 0) -> dict[str, Any]:
    """Validate `content` (a JSON string) for `msg_type`, sent in a request body of `body_size`
    bytes; returns the parsed object."""
    if not isinstance(msg_type, str) or msg_type not in MSG_TYPES:
        raise ContentError(230001, f"invalid param: msg_type {msg_type!r} is not supported")
    if not isinstance(content, str) or not content:
        raise ContentError(230001, "invalid param: content must be a non-empty JSON string")
    limit = TEXT_LIMIT if msg_type == "text" else RICH_LIMIT
    if max(body_size, len(content.encode("utf-8"))) > limit:
        raise ContentError(230025, f"The length of the message content reaches its limit "
                                   f"(request body over {limit // 1024} KB for {msg_type}).")
    try:
        parsed = json.loads(content)
    except json.JSONDecodeError:
        raise ContentError(230001, "invalid param: content is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ContentError(230001, "invalid param: content must be a JSON object")
    if msg_type == "text" and not isinstance(parsed.get("text"), str):
        raise ContentError(230001, "invalid param: text content needs a string field 'text'")
    if msg_type == "post" and _post_body(parsed) is None:
        raise ContentError(230001, "invalid param: post content needs a 'content' list of paragraphs")
    if msg_type == "interactive":
        try:
            check_card(parsed)
        except CardError as exc:
            raise ContentError(exc.code, exc.msg) from None
    return parsed


def to_text(msg_type: str, content: str, mentions: list[dict[str, Any]] | None = None) -> str:
    """What a reader sees: mention placeholders replaced by names, rich text flattened."""
    try:
        parsed = json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return str(content)
    if not isinstance(parsed, dict):
        return str(parsed)
    if msg_type == "text":
        text = str(parsed.get("text", ""))
    elif msg_type == "post":
        text = _post_text(parsed)
    elif msg_type == "interactive":
        text = "\n".join(_card_strings(parsed))
    else:
        text = f"[{msg_type}]"
    text = _AT_TAG.sub(lambda m: "@" + m.group(1), text)
    # longest key first, so @_user_10 is not eaten by @_user_1
    for m in sorted(mentions or [], key=lambda m: -len(m.get("key", ""))):
        if m.get("key"):
            text = text.replace(m["key"], f"@{m.get('name', '')}")
    return text


def _post_body(parsed: dict[str, Any]) -> dict[str, Any] | None:
    """A post is `{"title","content"}`, possibly wrapped in a language key or in `post`."""
    if isinstance(parsed.get("content"), list):
        return parsed
    for value in parsed.values():
        if isinstance(value, dict):
            found = _post_body(value)
            if found is not None:
                return found
    return None


def _post_text(parsed: dict[str, Any]) -> str:
    body = _post_body(parsed) or {}
    lines = [str(body["title"])] if body.get("title") else []
    for paragraph in body.get("content", []):
        if not isinstance(paragraph, list):
            continue
        parts = []
        for el in paragraph:
            if not isinstance(el, dict):
                continue
            tag = el.get("tag")
            if tag in ("text", "a", "md", "code_block"):
                parts.append(str(el.get("text", "")))
            elif tag == "at":
                parts.append(f"@{el.get('user_name') or el.get('user_id', '')}")
            elif tag == "img":
                parts.append("[图片]")
        lines.append("".join(parts))
    return "\n".join(lines)


def _card_strings(node: Any) -> list[str]:
    """Every visible string of a card: `content` of text elements and markdown, in order."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("content", "text") and isinstance(value, str):
                out.append(value)
            else:
                out.extend(_card_strings(value))
    elif isinstance(node, list):
        for item in node:
            out.extend(_card_strings(item))
    return out
