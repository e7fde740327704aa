"""The bare reference for bench/ingest.py: a minimal ASGI app that only verifies the signature,
decrypts, parses and does one store write per event. Nothing else: no framework, no metrics, no
dedup of event ids, no logging. Run with: uvicorn --factory bench.bare_gateway:create
(env BENCH_STORE, BENCH_ENCRYPT_KEY)."""

from __future__ import annotations

import json
import os

from larkdou.lark import crypto
from larkdou.message import Message
from larkdou.store import open_queue


def create():  # type: ignore[no-untyped-def]
    store_url = os.environ["BENCH_STORE"]
    key = os.environ["BENCH_ENCRYPT_KEY"]
    state: dict = {}

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    state["queue"] = await open_queue(store_url)
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await state["queue"].close()
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
            m = payload["event"]["message"]
            await state["queue"].enqueue(Message(msg_id=m["message_id"], group_id=m["chat_id"], content=m["content"]),
                                         [m["message_id"]])
            status = 200
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"msg":"success"}'})

    return app
