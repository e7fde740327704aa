"""`POST /event` under generated bad input, on both stores: never a 5xx, nothing stored for a refused
request, only well-formed messages stored, and good events still served afterwards.

The cases are mutations of real events (seeded, so a failure can be replayed): fields of the wrong
type, missing fields, deep nesting, lone surrogates, huge strings, content that is not the JSON its
type needs, bad base64, bad padding, bad signatures and timestamps, bodies that are not JSON at all.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import random
import time
from typing import Any, Callable

import httpx
import pytest

from larkdou.config import build_settings
from larkdou.lark import crypto
from larkdou.serving import serving
from larkdou.gateway.app import create_app
from tests.factories import (ENCRYPT_KEY, FETCH_TOKEN, bot_mention, message_event, settings_dict,
                             signed_request)

AUTH = {"Authorization": f"Bearer {FETCH_TOKEN}"}
SEED = 20261202

Request = tuple[bytes, dict[str, str]]


def _junk(rng: random.Random) -> Any:
    """A value of a random wrong kind."""
    return rng.choice([
        lambda: rng.randint(-2**63, 2**63),
        lambda: 10 ** 40,
        lambda: rng.random(),
        lambda: True,
        lambda: None,
        lambda: [],
        lambda: [1, "a", None],
        lambda: {},
        lambda: {"text": 5},
        lambda: "",
        lambda: "x" * rng.choice([300, 5000, 200_000]),
        lambda: "\ud800",
        lambda: "a\udfffb",
        lambda: "[" * rng.choice([100, 5000]),
        lambda: "{" * 3000,
        lambda: _nested(rng.choice([50, 500, 900])),
        lambda: "\x00\x01",
        lambda: "🙂" * 100,
    ])()


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _set(node: Any, path: tuple, value: Any, delete: bool = False) -> None:
    for key in path[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = value


def _base_event(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["text", "mention", "post", "image", "recall"])
    if kind == "mention":
        return message_event("@_user_1 怎么配置 encrypt key？", mentions=[bot_mention()])
    if kind == "post":
        return message_event(message_type="post", mentions=[bot_mention()], content={
            "title": "标题", "content": [[{"tag": "at", "user_id": "@_user_1", "user_name": "豆哥"},
                                          {"tag": "text", "text": " 怎么部署？"}], [{"tag": "img", "image_key": "i"}]]})
    if kind == "image":
        return message_event(message_type="image", content={"image_key": "img_1"})
    return message_event("豆哥撤回" if kind == "recall" else "hello")


def _mutate_payload(rng: random.Random, event: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(event)
    for _ in range(rng.choice([1, 1, 2, 3])):
        paths = _paths(event)
        path = rng.choice(paths)
        _set(event, path, _junk(rng), delete=rng.random() < 0.25)
    return event


def _mutate_content(rng: random.Random, event: dict[str, Any]) -> dict[str, Any]:
    """Content is a JSON string inside the event: break what is inside it."""
    event = copy.deepcopy(event)
    message = event["event"]["message"]
    message["message_type"] = rng.choice(["text", "post", message["message_type"]])
    inner: Any = rng.choice([
        {"text": _junk(rng)},
        {"content": _junk(rng)},
        {"content": [_junk(rng)]},
        {"content": [[_junk(rng)]]},
        {"content": [[{"tag": rng.choice(["text", "at", "a", "img"]), "text": _junk(rng),
                       "user_id": _junk(rng), "user_name": _junk(rng)}]]},
        {"zh_cn": {"title": _junk(rng), "content": _junk(rng)}},
        _junk(rng),
    ])
    as_text = rng.random() < 0.8
    message["content"] = json.dumps(inner) if as_text else _junk(rng)
    return event


def _encrypted(rng: random.Random, payload: dict[str, Any]) -> Request:
    return signed_request(json.dumps(payload).encode())  # ASCII JSON: lone surrogates become \ud800 escapes


def _with_raw_surrogate_escape(rng: random.Random, event: dict[str, Any]) -> Request:
    """JSON text with a `\\ud800` escape where a string goes (json.dumps would write the same)."""
    field = rng.choice(["message_id", "chat_id", "chat_type", "root_id"])
    event = copy.deepcopy(event)
    event["event"]["message"][field] = "MARK"
    text = json.dumps(event).replace('"MARK"', '"om_\\ud800x"')
    return signed_request(text.encode())


def _bad_encrypt_field(rng: random.Random, event: dict[str, Any]) -> Request:
    good = crypto.encrypt(ENCRYPT_KEY, json.dumps(event))
    raw = bytearray(base64.b64decode(good))
    value: Any = rng.choice([
        lambda: good.rstrip("="),                                  # bad base64 padding
        lambda: good[:-5] + "!!!!=",                               # not base64
        lambda: base64.b64encode(bytes(raw[:-3])).decode(),        # not a multiple of the block
        lambda: base64.b64encode(bytes(raw[:20])).decode(),        # too short
        lambda: base64.b64encode(bytes(raw[:-1]) + bytes([raw[-1] ^ 0x5A])).decode(),  # padding broken
        lambda: base64.b64encode(bytes(raw[:16]) + bytes(16)).decode(),
        lambda: "",
        lambda: _junk(rng),
        lambda: crypto.encrypt("another key", json.dumps(event)),
        lambda: crypto.encrypt(ENCRYPT_KEY, b"\xff\xfe not utf-8"),
        lambda: crypto.encrypt(ENCRYPT_KEY, b"[" * 5000),
        lambda: crypto.encrypt(ENCRYPT_KEY, json.dumps([event])),
    ])()
    body = json.dumps({"encrypt": value}).encode()
    if rng.random() < 0.7:  # signed correctly, so decryption is what fails
        ts, nonce = str(int(time.time())), "nonce"
        return body, {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                      "X-Lark-Signature": crypto.signature(ts, nonce, ENCRYPT_KEY, body)}
    return body, {}


def _bad_headers(rng: random.Random, event: dict[str, Any]) -> Request:
    body, headers = signed_request(event)
    name, value = rng.choice([
        ("X-Lark-Signature", "0" * 64),
        ("X-Lark-Signature", "not hex"),
        ("X-Lark-Signature", headers["X-Lark-Signature"].upper() + "0"),
        ("X-Lark-Request-Timestamp", "yesterday"),
        ("X-Lark-Request-Timestamp", "9" * 40),
        ("X-Lark-Request-Timestamp", "-5"),
        ("X-Lark-Request-Timestamp", str(int(time.time()) - 30 * 86400)),
        ("X-Lark-Request-Nonce", "other"),
    ])
    headers[name] = value
    if name == "X-Lark-Request-Timestamp" and rng.random() < 0.5:  # re-signed: the age is what fails
        headers["X-Lark-Signature"] = crypto.signature(value, headers["X-Lark-Request-Nonce"], ENCRYPT_KEY, body)
    return body, headers


def _bad_body(rng: random.Random, event: dict[str, Any]) -> Request:
    body = rng.choice([
        b"", b"null", b"[]", b"5", b'"str"', b"{", b"[" * 1000, b"[" * 100_000, b'{"a":' * 3000,
        b"\xff\xfe\x00", json.dumps(event).encode()[:-7], b"[" * 5000 + b"]" * 5000,
        b'{"challenge": 5, "type": "url_verification"}', b'{"type": "url_verification", "challenge": "\\ud800"}',
        b'{"encrypt": {"a": 1}}', b'{"schema": "2.0"}',
    ])
    return (body, {}) if rng.random() < 0.5 else _signed_raw(body)


def _signed_raw(body: bytes) -> Request:
    ts, nonce = str(int(time.time())), "n"
    return body, {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                  "X-Lark-Signature": crypto.signature(ts, nonce, ENCRYPT_KEY, body)}


def _signed_plain(rng: random.Random, event: dict[str, Any]) -> Request:
    """Signed with the key but not encrypted: authentic, so its shape decides."""
    return _signed_raw(json.dumps(_mutate_payload(rng, event)).encode())


CASES: list[tuple[str, Callable[[random.Random, dict[str, Any]], Request], int]] = [
    ("payload", lambda rng, ev: _encrypted(rng, _mutate_payload(rng, ev)), 6),
    ("content", lambda rng, ev: _encrypted(rng, _mutate_content(rng, ev)), 4),
    ("surrogate", _with_raw_surrogate_escape, 1),
    ("encrypt", _bad_encrypt_field, 2),
    ("headers", _bad_headers, 1),
    ("body", _bad_body, 1),
    ("plain", _signed_plain, 1),
]


def generate(n: int, seed: int = SEED) -> list[tuple[str, Request]]:
    rng = random.Random(seed)
    names = [name for name, _, weight in CASES for _ in range(weight)]
    makers = {name: make for name, make, _ in CASES}
    out = []
    for _ in range(n):
        name = rng.choice(names)
        out.append((name, makers[name](rng, _base_event(rng))))
    return out


def assert_well_formed(msg: dict[str, Any]) -> None:
    """What a consumer of /fetch relies on."""
    for key in ("msg_id", "group_id"):
        assert isinstance(msg[key], str) and msg[key], key
    for key in ("content", "user_id", "event_id", "chat_type", "message_type", "root_id", "parent_id",
                "thread_id", "sender_type", "tenant_key", "source", "delivery_id"):
        assert isinstance(msg[key], str), key
    assert isinstance(msg["msg_time"], int) and msg["msg_time"] >= 0
    assert isinstance(msg["mentioned_bot"], bool) and isinstance(msg["is_recall"], bool)
    assert isinstance(msg["mentions"], list)
    for m in msg["mentions"]:
        assert all(isinstance(m[k], str) for k in ("key", "name", "open_id", "user_id"))
    json.dumps(msg, ensure_ascii=False).encode("utf-8")  # storable and sendable as UTF-8


async def _depth(client: httpx.AsyncClient) -> int:
    depth = (await client.get("/healthz")).json()["depth"]
    return depth["recall"] + depth["normal"] + depth["leased"]


def test_the_generator_makes_enough_distinct_cases():
    cases = generate(600)
    assert len({body for _, (body, _) in cases}) > 550
    assert {name for name, _ in cases} == {name for name, _, _ in CASES}


async def test_fuzzed_events_never_get_a_5xx_and_store_nothing_bad(store_url, caplog):
    settings = build_settings(settings_dict(store_url), env={})
    statuses: dict[int, int] = {}
    async with serving(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            with caplog.at_level(logging.WARNING):
                for i, (name, (body, headers)) in enumerate(generate(600)):
                    before = await _depth(client)
                    r = await client.post("/event", content=body, headers=headers)
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    assert r.status_code < 500, (i, name, r.status_code, r.text)
                    reply = r.json()
                    after = await _depth(client)
                    if r.status_code != 200:
                        assert reply["error"] and reply["message"], (i, name)
                        assert after == before, (i, name, "a refused request changed the queue")
                    else:
                        assert after - before in (0, 1), (i, name)
            stored = []
            while msg := (await client.post("/fetch", headers=AUTH)).json():
                assert_well_formed(msg)
                stored.append(msg)
            good = message_event("still here?", message_id="om_after_fuzz")
            body, headers = signed_request(good)
            assert (await client.post("/event", content=body, headers=headers)).status_code == 200
            assert (await client.post("/fetch", headers=AUTH)).json()["msg_id"] == "om_after_fuzz"
    assert statuses.get(200, 0) > 20 and statuses.get(400, 0) > 50 and statuses.get(401, 0) > 50, statuses
    assert stored, "some mutated events are still valid messages"
    records = [r for r in caplog.records if r.name.startswith(("larkdou", "uvicorn"))]
    assert not any(r.exc_info or r.levelno >= logging.ERROR for r in records)


@pytest.mark.parametrize("store", ["sqlite"])
async def test_fuzzed_plain_events_without_an_encrypt_key(tmp_path, store):
    """Token-only mode (no encrypt key): the body is the event, the token authenticates it."""
    settings = build_settings(settings_dict(f"sqlite:///{tmp_path / 'gw.db'}", encrypt_key=""), env={})
    rng = random.Random(SEED + 1)
    async with serving(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for i in range(250):
                event = _base_event(rng)
                mutated = rng.choice([_mutate_payload, _mutate_content])(rng, event)
                body = json.dumps(mutated).encode()
                before = await _depth(client)
                r = await client.post("/event", content=body)
                assert r.status_code < 500, (i, r.status_code, r.text)
                if r.status_code != 200:
                    assert await _depth(client) == before
            while msg := (await client.post("/fetch", headers=AUTH)).json():
                assert_well_formed(msg)
