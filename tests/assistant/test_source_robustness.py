"""HttpSource against a gateway that answers garbage: a real HTTP server on loopback. `next()` never
raises out (that would kill the worker), logs a warning, backs off, and goes on with good messages."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from larkdou.assistant.sources import HttpSource
from larkdou.config import build_settings
from larkdou.serving import serving
from tests.factories import settings_dict

GOOD = {"source": "lark_group", "msg_id": "om_good", "user_id": "ou_a", "content": "好的问题？", "group_id": "oc_1",
        "msg_time": 1_700_000_000_000, "delivery_id": "7.0123456789abcdef", "attempts": 1}


class FakeGateway:
    """Answers /fetch with the scripted bodies in turn (then `{}`), and records what /ack receives."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.acks: list[Any] = []

    async def fetch(self, request: Request) -> Response:
        body = self.answers.pop(0) if self.answers else b"{}"
        return Response(body, media_type="application/json")

    async def ack(self, request: Request) -> Response:
        self.acks.append(await request.json())
        data = self.acks[-1]
        answer = {"acked": True} if "delivery_id" in data else {"acked": [True] * len(data["delivery_ids"])}
        return Response(json.dumps(answer), media_type="application/json")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/fetch", self.fetch, methods=["POST"]),
                                 Route("/ack", self.ack, methods=["POST"])])


def source_for(url: str) -> HttpSource:
    data = settings_dict("sqlite:///unused.db")
    data["frontend"]["webhook_url"] = f"{url}/fetch"
    return HttpSource(build_settings(data, env={}), wait=0.1)


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize("garbage", [
    b"<html>502 Bad Gateway</html>",
    b"[1, 2, 3]",
    b'"just a string"',
    dumps({"messages": "not a list"}),
    dumps({"messages": [1, 2]}),
    dumps({**GOOD, "delivery_id": ""}),
    dumps({k: v for k, v in GOOD.items() if k != "msg_id"}),
    dumps({**GOOD, "msg_time": "yesterday"}),
    dumps({**GOOD, "mentions": "@everyone"}),
    dumps({**GOOD, "mentions": [{"key": 5}]}),
    dumps({**GOOD, "is_recall": "yes"}),
    dumps({**GOOD, "attempts": 0}),
    dumps({"messages": [{**GOOD, "content": None}]}),
])
async def test_a_garbage_answer_is_logged_and_skipped(garbage: bytes, caplog) -> None:
    gateway = FakeGateway([garbage, dumps(GOOD)])
    caplog.set_level(logging.WARNING, logger="larkdou")
    async with serving(gateway.app()) as url:
        source = source_for(url)
        try:
            got = await asyncio.wait_for(source.next(), 10)
            assert got is not None and got.message.msg_id == "om_good" and got.message.content == "好的问题？"
            assert await source.ack(got.delivery_id) is True
        finally:
            await source.aclose()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Traceback" not in caplog.text
    assert gateway.acks == [{"delivery_id": GOOD["delivery_id"]}]  # the unreadable one was not acked


async def test_good_messages_of_a_batch_are_kept_when_one_is_bad(caplog) -> None:
    second = {**GOOD, "msg_id": "om_second", "delivery_id": "8.0123456789abcdef"}
    batch = {"messages": [GOOD, {**GOOD, "msg_id": 12, "delivery_id": "9.0123456789abcdef"}, second]}
    gateway = FakeGateway([dumps(batch)])
    caplog.set_level(logging.WARNING, logger="larkdou")
    async with serving(gateway.app()) as url:
        source = source_for(url)
        try:
            first = await source.next(room=3)
            then = await source.next(room=2)  # from the buffer: no second request needed
            assert first and then and [first.message.msg_id, then.message.msg_id] == ["om_good", "om_second"]
            assert await asyncio.gather(source.ack(first.delivery_id), source.ack(then.delivery_id)) == [True, True]
        finally:
            await source.aclose()
    assert "9.0123456789abcdef" in caplog.text and "msg_id must be str" in caplog.text
    # the two acks that were made at once went out together
    assert gateway.acks == [{"delivery_ids": ["7.0123456789abcdef", "8.0123456789abcdef"]}]
