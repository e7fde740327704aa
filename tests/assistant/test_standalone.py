"""`larkdou assistant --standalone` without a `[gateway] fetch_token`: it reads its own queue, so it
answers as usual, and its gateway routes serve no /fetch or /ack to anyone."""

from __future__ import annotations

from larkdou.assistant.main import running
from larkdou.config import build_settings
from tests.assistant.answerers import QuestionAnswerer
from tests.assistant.stack import sandbox_only, stack_config
from tests.conftest import free_port
from tests.rawhttp import raw_request

CHAT = "oc_standalone"


async def test_standalone_without_a_fetch_token_answers_and_serves_no_fetch(tmp_path):
    data = stack_config(tmp_path, free_port(), free_port())
    data["gateway"]["fetch_token"] = ""
    settings = build_settings(data, base_dir=tmp_path, env={})
    async with sandbox_only(settings) as sandbox:
        async with running(settings, standalone=True, answerer=QuestionAnswerer(delay=0.3), api_port=0) as run:
            msg_id = await sandbox.say(CHAT, "怎么配置 encrypt key？")
            for auth in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer"}):
                status, body = await raw_request(run.gateway_url, "POST", "/fetch", auth)
                assert status == 404 and b"fetch_disabled" in body
                status, _ = await raw_request(run.gateway_url, "POST", "/ack", auth, b'{"delivery_id": "1.a"}')
                assert status == 404
            assert (await run.worker.wait_handled(msg_id)).status == "answered"
        replies = [m for m in await sandbox.bot_messages(CHAT) if m["parent_id"] == msg_id]
        assert len(replies) == 1
