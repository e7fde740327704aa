"""Lark message events in, `Message` out (reference §3).

`to_message` turns an `im.message.receive_v1` envelope into a `Message`, reading every field it
uses through `larkdou.lark.shape` (a field of the wrong type is a 400 naming it) and refusing
strings that cannot be stored (lone surrogates). The webhook and the long connection both end here.
Envelopes come from `larkdou.lark.envelope` (`open_envelope`, `classify`), re-exported below.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from typing import Any, Callable, Sequence

from larkdou.errors import EventError
from larkdou.lark import shape
from larkdou.lark.envelope import MESSAGE_RECEIVE, Envelope, classify, open_envelope
from larkdou.message import Mention, Message

__all__ = ["MESSAGE_RECEIVE", "Envelope", "classify", "open_envelope", "is_recall_command", "to_message"]

MAX_MENTIONS = 200
MAX_NAME_CHARS = 1024
TEXT_TYPES = ("text", "post")  # the message types whose content is read


def _mentions(msg: dict[str, Any]) -> list[Mention]:
    raw = shape.items(msg, "mentions", "message")
    if len(raw) > MAX_MENTIONS:
        raise shape.bad("message.mentions", f"a list of at most {MAX_MENTIONS}")
    out = []
    for i, m in enumerate(raw):
        where = f"message.mentions[{i}]"
        if not isinstance(m, dict):
            raise shape.bad(where, "an object")
        key = shape.text(m, "key", where, max_chars=64)
        ids = shape.table(m, "id", where)
        mention = Mention(key=key, name=shape.text(m, "name", where, max_chars=MAX_NAME_CHARS),
                          open_id=shape.ident(ids, "open_id", f"{where}.id"),
                          user_id=shape.ident(ids, "user_id", f"{where}.id"))
        if key:
            out.append(mention)
    return out


def _resolve_mentions(text: str, mentions: list[Mention]) -> str:
    for m in sorted(mentions, key=lambda m: len(m.key), reverse=True):  # @_user_10 before @_user_1
        text = text.replace(m.key, f"@{m.name}" if m.name else "")
    return text


def _post_text(content: dict[str, Any], mentions: list[Mention]) -> str:
    where = "message.content"
    if "content" not in content:  # language-wrapped form: {"zh_cn": {"title", "content"}}
        for lang, value in content.items():
            if isinstance(value, dict) and "content" in value:
                content, where = value, f"message.content.{lang}"
                break
    names = {m.key: m.name for m in mentions}
    title = shape.text(content, "title", where)
    lines = [title] if title else []
    for i, para in enumerate(shape.items(content, "content", where)):
        if not isinstance(para, list):
            raise shape.bad(f"{where}.content[{i}]", "a list")
        parts = []
        for j, el in enumerate(para):
            at = f"{where}.content[{i}][{j}]"
            if not isinstance(el, dict):
                raise shape.bad(at, "an object")
            tag = shape.text(el, "tag", at)
            if tag in ("text", "a", "code_block", "md"):
                parts.append(shape.text(el, "text", at))
            elif tag == "at":
                key = shape.text(el, "user_id", at)
                name = shape.text(el, "user_name", at) or names.get(key, "")
                parts.append(f"@{name}" if name else key)
            elif tag in ("img", "media"):
                parts.append("[image]")
        lines.append("".join(parts))
    return _resolve_mentions("\n".join(lines).strip(), mentions)


def _texts(msg: dict[str, Any], message_type: str, mentions: list[Mention]) -> tuple[str, str]:
    """(raw text with @_user_N placeholders kept, display text with mentions resolved)."""
    raw_content = shape.text(msg, "content", "message")
    if message_type not in TEXT_TYPES:
        return "", f"[{message_type}]"
    content = shape.json_object(raw_content, "message.content", reason="bad_content") if raw_content else {}
    if message_type == "text":
        raw = shape.text(content, "text", "message.content")
        return raw, _resolve_mentions(raw, mentions).strip()
    return _post_text(content, []), _post_text(content, mentions)


_NOT_WORD = re.compile(r"[\W_]+")  # spaces, punctuation, symbols, emoji


def _normalise_command(text: str) -> str:
    """Text with spaces and punctuation removed, NFKC-normalised and case-folded (command matching)."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text)).casefold()


_normalised_keyword = functools.lru_cache(maxsize=64)(_normalise_command)


def is_recall_command(raw_text: str, mentions: list[Mention], keywords: Sequence[str]) -> bool:
    """True when the message is exactly a recall keyword once @mentions and punctuation are removed."""
    if not keywords or len(raw_text) > 4 * max(len(k) for k in keywords) + 64 + 16 * len(mentions):
        return False  # far longer than any keyword with a few mentions and marks around it
    text = raw_text
    for m in sorted(mentions, key=lambda m: len(m.key), reverse=True):
        text = text.replace(m.key, " ")
        if m.name:
            text = text.replace(f"@{m.name}", " ")
    text = text.replace("@_all", " ")
    said = _normalise_command(text)
    return bool(said) and any(said == _normalised_keyword(k) for k in keywords)


def _check_encoding(msg: Message) -> None:
    """Every string of the message must be storable as UTF-8 (no lone surrogates)."""
    values = [getattr(msg, f.name) for f in dataclasses.fields(msg)]
    values += [v for m in msg.mentions for v in vars(m).values()]
    for value in values:
        if isinstance(value, str) and not shape.encodable(value):
            raise EventError("the message holds text that is not valid Unicode (a lone surrogate)",
                             reason="bad_encoding")


def to_message(env: Envelope, *, bot_open_id: str = "",
               recall_keywords: Sequence[str] | Callable[[str], Sequence[str]]) -> Message:
    """Normalise an `im.message.receive_v1` envelope. Raises EventError: missing_fields when the
    message, its id or its chat id is missing; bad_field / bad_content / bad_encoding for a field
    of the wrong type, content that is not the JSON its type needs, or text that cannot be stored.
    `recall_keywords`: the keywords, or a function of the chat_id giving that chat's keywords."""
    event = shape.table(env.payload, "event", "body", required=True)
    msg = shape.table(event, "message", "event", required=True)
    msg_id = shape.ident(msg, "message_id", "message", required=True)
    chat_id = shape.ident(msg, "chat_id", "message", required=True)
    sender = shape.table(event, "sender", "event")
    sender_ids = shape.table(sender, "sender_id", "event.sender")
    header = shape.table(env.payload, "header", "body")
    mentions = _mentions(msg)
    message_type = shape.text(msg, "message_type", "message", max_chars=64) or "text"
    raw_text, text = _texts(msg, message_type, mentions)
    out = Message(
        msg_id=msg_id,
        group_id=chat_id,
        content=text,
        user_id=shape.ident(sender_ids, "open_id", "event.sender.sender_id"),
        msg_time=shape.millis(msg, "create_time", "message"),
        event_id=env.event_id,
        chat_type=shape.text(msg, "chat_type", "message", max_chars=64) or "group",
        message_type=message_type,
        mentions=mentions,
        mentioned_bot=bool(bot_open_id) and any(m.open_id == bot_open_id for m in mentions),
        is_recall=is_recall_command(raw_text, mentions,
                                    recall_keywords(chat_id) if callable(recall_keywords) else recall_keywords),
        root_id=shape.ident(msg, "root_id", "message"),
        parent_id=shape.ident(msg, "parent_id", "message"),
        thread_id=shape.ident(msg, "thread_id", "message"),
        sender_type=shape.text(sender, "sender_type", "event.sender", max_chars=64) or "user",
        tenant_key=shape.ident(sender, "tenant_key", "event.sender") or shape.ident(header, "tenant_key", "header"),
    )
    _check_encoding(out)
    return out
