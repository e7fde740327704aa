"""The bare reference for bench/ingest.py: a minimal ASGI app that only verifies the signature,
decrypts, parses and does one store write per event: one XADD on Redis, one INSERT on SQLite (through
the same group-commit thread as the real store, so durability is the same). Nothing else: no
framework, no metrics, no dedup, no normalisation, no logging. Run with:
uvicorn --factory bench.bare_gateway:create (env BENCH_STORE, BENCH_ENCRYPT_KEY)."""

from __future__ import annotations

import json
import os

from typing import Awaitable, Callable

from larkdou.lark import crypto
from larkdou.store.sqlite_db import SqliteDB


async def open_writer(url: str) -> tuple[Callable[[str], Awaitable[object]], Callable[[], Awaitable[None]]]:
    """(write one body, close) for the store at `url`."""
    if url.startswith("sqlite:///"):
        db = await SqliteDB.open(url[len("sqlite:///"):], "CREATE TABLE IF NOT EXISTS events (body TEXT NOT NULL);")
        return (lambda body: db.execute("INSERT INTO events (body) VALUES (?)", (body,))), db.close
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    return (lambda body: client.xadd("bench:events", {"body": body})), client.aclose


def create():  # type: ignore[no-untyped-def]
    store_url = os.environ["BENCH_STORE"]
    key = os.environ["BENCH_ENCRYPT_KEY"]
    state: dict = {}

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    state["write"], state["close"] = await open_writer(store_url)
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await state["close"]()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        ok = crypto.verify_signature(headers.get("x-lark-request-timestamp", ""), headers.get("x-lark-request-nonce", ""),
                                     key, body, headers.get("x-lark-signature", ""))
        status = 401
        if ok:
            payload = json.loads(crypto.decrypt(key, json.loads(body)["encrypt"]))
            await state["write"](json.dumps(payload["event"]["message"], ensure_ascii=False))
            status = 200
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"msg":"success"}'})

    return app
