"""Build Lark callback requests the way Lark sends them (for gateway tests and benchmarks)."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from larkdou.lark import crypto

APP_ID = "cli_test0000000000"
ENCRYPT_KEY = "test-encrypt-key"
VERIFICATION_TOKEN = "test-verification-token"
FETCH_TOKEN = "test-fetch-token"
BOT_OPEN_ID = "ou_bot00000000000000000000000000"


def message_event(text: str = "hello", *, chat_id: str = "oc_chat1", message_id: str | None = None,
                  event_id: str | None = None, sender: str = "ou_alice", chat_type: str = "group",
                  mentions: list[dict[str, Any]] | None = None, message_type: str = "text",
                  content: dict[str, Any] | None = None, token: str = VERIFICATION_TOKEN,
                  create_time_ms: int | None = None) -> dict[str, Any]:
    """An `im.message.receive_v1` schema 2.0 payload (reference §3)."""
    now = create_time_ms or int(time.time() * 1000)
    return {
        "schema": "2.0",
        "header": {"event_id": event_id or secrets.token_hex(16), "event_type": "im.message.receive_v1",
                   "create_time": str(now), "token": token, "app_id": APP_ID, "tenant_key": "tenant1"},
        "event": {
            "sender": {"sender_id": {"open_id": sender, "user_id": "u1", "union_id": "on_1"},
                       "sender_type": "user", "tenant_key": "tenant1"},
            "message": {"message_id": message_id or f"om_{secrets.token_hex(16)}", "root_id": None,
                        "parent_id": None, "create_time": str(now), "update_time": str(now),
                        "chat_id": chat_id, "chat_type": chat_type, "message_type": message_type,
                        "content": json.dumps(content if content is not None else {"text": text}, ensure_ascii=False),
                        "mentions": mentions},
        },
    }


def bot_mention(key: str = "@_user_1", name: str = "豆哥", open_id: str = BOT_OPEN_ID) -> dict[str, Any]:
    return {"key": key, "id": {"open_id": open_id, "user_id": "", "union_id": ""}, "name": name, "tenant_key": "t"}


def signed_request(payload: dict[str, Any] | bytes, *, encrypt_key: str = ENCRYPT_KEY,
                   sign: bool = True, encrypt: bool = True, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers Lark would POST for `payload` (encrypted and signed with the key, at
    `timestamp`, default now)."""
    plain = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    body = json.dumps({"encrypt": crypto.encrypt(encrypt_key, plain)}).encode() if encrypt else plain
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if sign:
        ts, nonce = str(int(time.time()) if timestamp is None else timestamp), secrets.token_hex(8)
        headers.update({"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                        "X-Lark-Signature": crypto.signature(ts, nonce, encrypt_key, body)})
    return body, headers


def settings_dict(store: str, *, encrypt_key: str = ENCRYPT_KEY, **gateway: Any) -> dict[str, Any]:
    return {
        "frontend": {"lark_group": {"app_id": APP_ID, "app_secret": "test-app-secret",
                                    "encrypt_key": encrypt_key, "verification_token": VERIFICATION_TOKEN}},
        "gateway": {"store": store, "fetch_token": FETCH_TOKEN, "fetch_wait": 0.0, **gateway},
    }
