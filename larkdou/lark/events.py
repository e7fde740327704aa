"""Lark event envelopes in, `Message` out (reference §1–§3).

`open_envelope` is pure: raw body bytes and headers in, a verified plaintext payload (or a
challenge) out, or an `EventError` saying why not. `to_message` turns an `im.message.receive_v1`
payload into a `Message`. The webhook and the long connection both end in `to_message`.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from larkdou.errors import DecryptError, EventError, SignatureError, TokenError
from larkdou.lark import crypto
from larkdou.message import Mention, Message

MESSAGE_RECEIVE = "im.message.receive_v1"
H_TIMESTAMP = "x-lark-request-timestamp"
H_NONCE = "x-lark-request-nonce"
H_SIGNATURE = "x-lark-signature"


@dataclass
class Envelope:
    """A verified event. `challenge` is set for url_verification (answer it, nothing else)."""

    payload: dict[str, Any] = field(default_factory=dict)
    event_type: str = ""
    event_id: str = ""
    schema: str = ""  # "2.0", "1.0", or "" for the challenge
    challenge: str | None = None


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # plain dicts with Lark's spelling, e.g. "X-Lark-Signature"
        for k, v in headers.items():
            if k.lower() == name:
                return v
        return ""
    return value


def _json_object(raw: bytes | str, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise EventError(f"{what} is not JSON", reason="not_json") from None
    if not isinstance(obj, dict):
        raise EventError(f"{what} is not a JSON object", reason="not_json")
    return obj


def open_envelope(body: bytes, headers: Mapping[str, str], *, encrypt_key: str, verification_token: str) -> Envelope:
    """Verify and decrypt one callback request.

    With an encrypt key, every event but the URL challenge must carry a valid X-Lark-Signature (the
    challenge is sent unsigned, reference §1.2). The verification token is checked in constant time:
    `header.token` for schema 2.0, top-level `token` for 1.0 and the challenge.
    """
    ts, nonce, sig = _header(headers, H_TIMESTAMP), _header(headers, H_NONCE), _header(headers, H_SIGNATURE)
    signed = bool(sig)
    if signed and encrypt_key and not crypto.verify_signature(ts, nonce, encrypt_key, body, sig):
        raise SignatureError("X-Lark-Signature does not match")

    outer = _json_object(body, "body")
    if "encrypt" in outer:
        if not encrypt_key:
            raise DecryptError("body is encrypted but no encrypt_key is configured", reason="no_encrypt_key")
        if not isinstance(outer["encrypt"], str) or not outer["encrypt"]:
            raise DecryptError("encrypt field is empty or not a string")
        payload = _json_object(crypto.decrypt(encrypt_key, outer["encrypt"]), "decrypted body")
    else:
        payload = outer

    env, token = classify(payload)
    if not crypto.tokens_equal(verification_token, token):
        raise TokenError("verification token does not match")
    if env.challenge is None and encrypt_key and not signed:
        raise SignatureError("missing X-Lark-Signature headers", reason="missing_signature")
    return env


def classify(payload: dict[str, Any]) -> tuple[Envelope, Any]:
    """Recognise a plaintext payload (challenge, schema 2.0 or 1.0); returns it with its token."""
    if payload.get("type") == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            raise EventError("url_verification without a challenge", reason="missing_fields")
        return Envelope(challenge=challenge), payload.get("token")
    if "schema" in payload:
        header = payload.get("header")
        if not isinstance(header, dict) or not isinstance(payload.get("event"), dict):
            raise EventError("schema 2.0 event without header or event", reason="missing_fields")
        return Envelope(payload=payload, event_type=str(header.get("event_type") or ""),
                        event_id=str(header.get("event_id") or ""), schema=str(payload["schema"])), header.get("token")
    if "uuid" in payload:
        event = payload.get("event")
        if not isinstance(event, dict):
            raise EventError("schema 1.0 event without event", reason="missing_fields")
        return Envelope(payload=payload, event_type=str(event.get("type") or ""),
                        event_id=str(payload.get("uuid") or ""), schema="1.0"), payload.get("token")
    raise EventError("not a Lark event: no schema, uuid or url_verification", reason="missing_fields")


# ---- message normalisation -----------------------------------------------------------------------

def _mentions(raw: Any) -> list[Mention]:
    out = []
    for m in raw or []:
        if not isinstance(m, dict) or not m.get("key"):
            continue
        ids = m.get("id") if isinstance(m.get("id"), dict) else {}
        out.append(Mention(key=str(m["key"]), name=str(m.get("name") or ""),
                           open_id=str(ids.get("open_id") or ""), user_id=str(ids.get("user_id") or "")))
    return out


def _resolve_mentions(text: str, mentions: list[Mention]) -> str:
    for m in sorted(mentions, key=lambda m: len(m.key), reverse=True):  # @_user_10 before @_user_1
        text = text.replace(m.key, f"@{m.name}" if m.name else "")
    return text


def _post_text(content: dict[str, Any], mentions: list[Mention]) -> str:
    if "content" not in content:  # language-wrapped form: {"zh_cn": {"title", "content"}}
        for value in content.values():
            if isinstance(value, dict) and "content" in value:
                content = value
                break
    names = {m.key: m.name for m in mentions}
    lines = [str(content.get("title") or "")] if content.get("title") else []
    for para in content.get("content") or []:
        parts = []
        for el in para if isinstance(para, list) else []:
            if not isinstance(el, dict):
                continue
            tag = el.get("tag")
            if tag in ("text", "a", "code_block", "md"):
                parts.append(str(el.get("text") or ""))
            elif tag == "at":
                key = str(el.get("user_id") or "")
                name = el.get("user_name") or names.get(key, "")
                parts.append(f"@{name}" if name else key)
            elif tag in ("img", "media"):
                parts.append("[image]")
        lines.append("".join(parts))
    return _resolve_mentions("\n".join(lines).strip(), mentions)


def _content(content_json: str) -> dict[str, Any]:
    try:
        content = json.loads(content_json) if content_json else {}
    except ValueError:
        return {}
    return content if isinstance(content, dict) else {}


def _texts(message_type: str, content: dict[str, Any], mentions: list[Mention]) -> tuple[str, str]:
    """(raw text with @_user_N placeholders kept, display text with mentions resolved)."""
    if message_type == "text":
        raw = str(content.get("text") or "")
        return raw, _resolve_mentions(raw, mentions).strip()
    if message_type == "post":
        return _post_text(content, []), _post_text(content, mentions)
    return "", f"[{message_type}]"


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


def _ms(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def to_message(env: Envelope, *, bot_open_id: str = "",
               recall_keywords: Sequence[str] | Callable[[str], Sequence[str]]) -> Message:
    """Normalise an `im.message.receive_v1` envelope. Raises EventError(missing_fields) when the
    message, its id or its chat id is missing. `recall_keywords`: the keywords, or a function of the
    chat_id giving that chat's keywords."""
    event = env.payload.get("event") or {}
    msg = event.get("message") if isinstance(event, dict) else None
    if not isinstance(msg, dict) or not msg.get("message_id") or not msg.get("chat_id"):
        raise EventError("message event without message.message_id or message.chat_id", reason="missing_fields")
    sender = event.get("sender") if isinstance(event.get("sender"), dict) else {}
    sender_ids = sender.get("sender_id") if isinstance(sender.get("sender_id"), dict) else {}
    mentions = _mentions(msg.get("mentions"))
    message_type = str(msg.get("message_type") or "text")
    raw_text, text = _texts(message_type, _content(msg.get("content") if isinstance(msg.get("content"), str) else ""),
                            mentions)
    header = env.payload.get("header") if isinstance(env.payload.get("header"), dict) else {}
    return Message(
        msg_id=str(msg["message_id"]),
        group_id=str(msg["chat_id"]),
        content=text,
        user_id=str(sender_ids.get("open_id") or ""),
        msg_time=_ms(msg.get("create_time")),
        event_id=env.event_id,
        chat_type=str(msg.get("chat_type") or "group"),
        message_type=message_type,
        mentions=mentions,
        mentioned_bot=bool(bot_open_id) and any(m.open_id == bot_open_id for m in mentions),
        is_recall=is_recall_command(raw_text, mentions, recall_keywords(str(msg["chat_id"]))
                                    if callable(recall_keywords) else recall_keywords),
        root_id=str(msg.get("root_id") or ""),
        parent_id=str(msg.get("parent_id") or ""),
        thread_id=str(msg.get("thread_id") or ""),
        sender_type=str(sender.get("sender_type") or "user"),
        tenant_key=str(sender.get("tenant_key") or header.get("tenant_key") or ""),
    )
