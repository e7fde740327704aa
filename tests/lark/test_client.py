"""The Lark client against the real sandbox: what ends up in the chat, what is recalled, what fails how."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from larkdou.errors import (
    LarkAPIError,
    LarkAuthError,
    LarkRateLimited,
    LarkServerError,
    MessageGoneError,
    NotOwnMessageError,
    RecallWindowError,
)
from larkdou.lark.client import LarkApp, LarkClient, reply_uuid, split_text
from tests.conftest import free_port
from tests.lark.conftest import APP_SECRET, Recorder, Sandbox, make_app, make_settings


def text_of(message: dict) -> str:
    return json.loads(message["body"]["content"])["text"]


async def test_bot_info_is_the_sandbox_bot(lark: LarkClient, sandbox: Sandbox) -> None:
    info = await sandbox.info()
    bot = await lark.bot_info()
    assert bot.open_id == info["bot"]["open_id"]
    assert bot.app_name == info["bot"]["name"]


async def test_send_reply_list_and_recall(lark: LarkClient, sandbox: Sandbox, chat_id: str) -> None:
    sent = await lark.send_text(chat_id, "大家好，我是豆哥", uuid=reply_uuid("om_greeting"))
    question = await sandbox.post(chat_id, "如何配置 encrypt_key？")
    answer = await lark.reply_text(question, "在 [frontend.lark_group] 里设置。", uuid=reply_uuid(question),
                                   chat_id=chat_id)
    threaded = await lark.reply_text(question, "补充一点。", uuid=reply_uuid(question, 1), reply_in_thread=True)

    assert sent.chat_id == answer.chat_id == threaded.chat_id == chat_id
    assert sent.create_time_ms > 0
    by_id = {m["message_id"]: m for m in await sandbox.messages(chat_id)}
    assert by_id[sent.message_id]["text"] == "大家好，我是豆哥"
    assert by_id[answer.message_id]["parent_id"] == question
    assert by_id[answer.message_id]["thread_id"] == ""
    assert by_id[threaded.message_id]["thread_id"] != ""

    listed = await lark.list_messages(chat_id, page_size=1)  # one page per message: pagination followed
    assert [m["message_id"] for m in listed] == list(by_id)
    assert text_of(listed[-1]) == "补充一点。"

    await lark.recall(answer.message_id, chat_id=chat_id)
    after = {m["message_id"]: m["deleted"] for m in await sandbox.messages(chat_id)}
    assert after == {sent.message_id: False, question: False, answer.message_id: True, threaded.message_id: False}


async def test_recall_errors_are_typed_and_not_retried(lark: LarkClient, sandbox: Sandbox, recorder: Recorder,
                                                       chat_id: str) -> None:
    mine = await lark.send_text(chat_id, "稍后撤回", uuid=reply_uuid("om_r1"))
    theirs = await sandbox.post(chat_id, "用户的消息")
    await lark.recall(mine.message_id)
    with pytest.raises(MessageGoneError) as gone:
        await lark.recall(mine.message_id)
    assert gone.value.code == 230011 and gone.value.log_id
    with pytest.raises(NotOwnMessageError):
        await lark.recall(theirs)
    with pytest.raises(MessageGoneError):
        await lark.recall("om_neverexisted")

    await sandbox.tune(recall_window_seconds=0.05)
    old = await lark.send_text(chat_id, "太久了", uuid=reply_uuid("om_r2"))
    await asyncio.sleep(0.1)
    with pytest.raises(RecallWindowError):
        await lark.recall(old.message_id)
    assert recorder.count("DELETE") == 5  # one request per recall: none of these is retried
    assert not (await sandbox.messages(chat_id))[-1]["deleted"]


async def test_duplicate_uuid_posts_once(lark: LarkClient, sandbox: Sandbox, chat_id: str) -> None:
    key = reply_uuid("om_source")
    results = await asyncio.gather(*(lark.send_text(chat_id, "只说一次", uuid=key) for _ in range(5)))
    again = await lark.send_text(chat_id, "只说一次", uuid=key)
    second_part = await lark.send_text(chat_id, "第二部分", uuid=reply_uuid("om_source", 1))
    assert {r.message_id for r in results} == {again.message_id}
    assert [m["text"] for m in await sandbox.bot_messages(chat_id)] == ["只说一次", "第二部分"]
    assert second_part.message_id != again.message_id


async def test_one_token_serves_many_concurrent_calls(lark: LarkClient, recorder: Recorder, chat_id: str) -> None:
    await asyncio.gather(lark.bot_info(), *(lark.send_text(chat_id, f"msg {i}", uuid=reply_uuid("om_t", i))
                                            for i in range(10)))
    await lark.bot_info()
    assert recorder.token_fetches == 1
    assert len({c.authorization for c in recorder.calls if c.authorization}) == 1


async def test_token_refetched_once_after_forced_expiry(lark: LarkClient, sandbox: Sandbox, recorder: Recorder,
                                                        chat_id: str) -> None:
    await lark.send_text(chat_id, "before", uuid=reply_uuid("om_e", 0))
    await sandbox.faults(expire_tokens=True)
    await asyncio.gather(*(lark.send_text(chat_id, f"after {i}", uuid=reply_uuid("om_e", i + 1)) for i in range(3)))
    assert recorder.token_fetches == 2
    assert len(await sandbox.bot_messages(chat_id)) == 4


async def test_a_failing_token_fetch_is_shared_then_retried_afresh(sandbox: Sandbox, recorder: Recorder) -> None:
    async with LarkClient(make_app(sandbox.url, max_retries=1), transport=recorder) as lark:
        # slow answers keep the first fetch pending while the app limiter lets all ten callers in
        await sandbox.faults(error_rate=1.0, error_status=500, latency_ms=400)
        results = await asyncio.gather(*(lark.bot_info() for _ in range(10)), return_exceptions=True)
        assert all(isinstance(r, LarkServerError) for r in results)
        assert recorder.token_fetches == 2  # one shared fetch (1 try + 1 retry) for all ten callers
        await sandbox.clear_faults()
        assert (await lark.bot_info()).open_id


async def test_a_cancelled_caller_does_not_cancel_the_shared_token_fetch(sandbox: Sandbox,
                                                                         recorder: Recorder) -> None:
    await sandbox.faults(latency_ms=300)
    async with LarkClient(make_app(sandbox.url), transport=recorder) as lark:
        first = asyncio.create_task(lark.bot_info())
        second = asyncio.create_task(lark.bot_info())
        await asyncio.sleep(0.1)
        first.cancel()
        assert (await second).open_id
    assert first.cancelled()
    assert recorder.token_fetches == 1


async def test_token_renewed_before_it_expires(sandbox: Sandbox, recorder: Recorder) -> None:
    await sandbox.tune(token_ttl_seconds=1)
    async with LarkClient(make_app(sandbox.url), transport=recorder) as lark:
        await lark.bot_info()
        await asyncio.sleep(1.0)
        await lark.bot_info()
    assert recorder.token_fetches == 2
    assert all(c.status == 200 for c in recorder.calls)  # renewed in time: never refused


async def test_5xx_is_retried_and_posts_once(lark: LarkClient, sandbox: Sandbox, recorder: Recorder,
                                             chat_id: str) -> None:
    await lark.bot_info()
    await sandbox.faults(error_count=2, error_status=503)
    sent = await lark.send_text(chat_id, "经过两次 503", uuid=reply_uuid("om_5xx"))
    assert [c.status for c in recorder.calls if "messages" in c.path] == [503, 503, 200]
    assert [m["message_id"] for m in await sandbox.bot_messages(chat_id)] == [sent.message_id]


async def test_persistent_5xx_gives_up_after_max_retries(sandbox: Sandbox, recorder: Recorder) -> None:
    await sandbox.faults(error_rate=1.0, error_status=502)
    async with LarkClient(make_app(sandbox.url, max_retries=2), transport=recorder) as lark:
        with pytest.raises(LarkServerError) as failed:
            await lark.bot_info()
    assert failed.value.http_status == 502
    assert recorder.token_fetches == 3  # the token endpoint failed too: 1 try + 2 retries


async def test_timeouts_are_retried_without_posting_twice(sandbox: Sandbox, chat_id: str) -> None:
    key = reply_uuid("om_slow")
    async with LarkClient(make_app(sandbox.url, timeout=0.2, max_retries=1)) as lark:
        await lark.bot_info()
        await sandbox.faults(latency_ms=500)
        with pytest.raises(LarkServerError):
            await lark.send_text(chat_id, "慢", uuid=key)
        await sandbox.clear_faults()
        await asyncio.sleep(0.6)  # let the sandbox finish the calls the client gave up on
        sent = await lark.send_text(chat_id, "慢", uuid=key)
    assert [m["message_id"] for m in await sandbox.bot_messages(chat_id)] == [sent.message_id]


async def test_app_rate_limit_is_waited_out(lark: LarkClient, sandbox: Sandbox, recorder: Recorder,
                                            chat_id: str) -> None:
    await lark.bot_info()
    await sandbox.faults(rate_limit={"seconds": 1})
    sent = await lark.send_text(chat_id, "等一等", uuid=reply_uuid("om_rl"))
    statuses = [c.status for c in recorder.calls if "messages" in c.path]
    assert statuses[0] == 429 and statuses[-1] == 200
    assert [m["message_id"] for m in await sandbox.bot_messages(chat_id)] == [sent.message_id]


async def test_rate_limit_without_retries_left_is_raised(sandbox: Sandbox) -> None:
    async with LarkClient(make_app(sandbox.url, max_retries=0)) as lark:
        await lark.bot_info()
        await sandbox.faults(rate_limit={"seconds": 5})
        with pytest.raises(LarkRateLimited) as limited:
            await lark.bot_info()
    assert limited.value.retry_after >= 1


async def test_chat_limit_refusals_are_waited_out(sandbox: Sandbox, recorder: Recorder, chat_id: str) -> None:
    await sandbox.tune(chat_rate=5)
    async with LarkClient(make_app(sandbox.url, chat_rate=50), transport=recorder) as lark:
        sent = await asyncio.gather(*(lark.send_text(chat_id, f"第{i}条", uuid=reply_uuid("om_c", i))
                                      for i in range(8)))
    assert any(c.rate_limited for c in recorder.calls)  # the client was configured too fast on purpose
    assert {m["message_id"] for m in await sandbox.bot_messages(chat_id)} == {s.message_id for s in sent}


async def test_kept_chat_rate_gets_no_refusals(sandbox: Sandbox, recorder: Recorder, chat_id: str) -> None:
    await sandbox.tune(chat_rate=5)
    async with LarkClient(make_app(sandbox.url, chat_rate=5), transport=recorder) as lark:
        await asyncio.gather(*(lark.send_text(chat_id, f"第{i}条", uuid=reply_uuid("om_k", i)) for i in range(8)))
    assert not any(c.rate_limited for c in recorder.calls)
    assert len(await sandbox.bot_messages(chat_id)) == 8


async def test_concurrent_recalls_run_at_app_rate_without_429(sandbox: Sandbox, recorder: Recorder,
                                                              chat_id: str) -> None:
    async with LarkClient(make_app(sandbox.url)) as lark:
        sent = await asyncio.gather(*(lark.send_text(chat_id, f"回答 {i}", uuid=reply_uuid("om_many", i))
                                      for i in range(20)))
    await sandbox.tune(app_rate=10)  # Lark's bucket lets `rate` calls through at once: 20 recalls exceed it
    async with LarkClient(make_app(sandbox.url, app_rate=10), transport=recorder) as lark:
        await asyncio.gather(*(lark.recall(s.message_id, chat_id=chat_id) for s in sent))
    assert all(m["deleted"] for m in await sandbox.bot_messages(chat_id))
    assert recorder.count("DELETE") == 20
    assert not any(c.rate_limited for c in recorder.calls)


async def test_wrong_secret_is_an_auth_error_that_names_no_secret(sandbox: Sandbox, recorder: Recorder,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="larkdou")
    settings = make_settings(sandbox.url)
    settings.lark_group.app_secret = "wrong-secret-value"  # type: ignore[assignment]
    async with LarkClient(LarkApp.from_settings(settings), transport=recorder) as lark:
        with pytest.raises(LarkAuthError) as refused:
            await lark.bot_info()
    assert refused.value.code == 99991543
    assert recorder.token_fetches == 1 and recorder.count("GET") == 0
    assert "wrong-secret-value" not in str(refused.value) + caplog.text


async def test_no_secret_or_token_reaches_the_logs(lark: LarkClient, sandbox: Sandbox, recorder: Recorder,
                                                   chat_id: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await lark.send_text(chat_id, "hi", uuid=reply_uuid("om_log"))
    await sandbox.faults(expire_tokens=True, error_count=1)
    await lark.send_text(chat_id, "again", uuid=reply_uuid("om_log", 1))
    with pytest.raises(LarkAPIError):
        await lark.reply_text("om_unknown", "x", uuid=reply_uuid("om_unknown"))
    tokens = {c.authorization.removeprefix("Bearer ") for c in recorder.calls if c.authorization}
    assert len(tokens) == 2
    assert "code=230001" in caplog.text  # the failure itself is logged, with its code and log id
    for secret in (APP_SECRET, *tokens):
        assert secret not in caplog.text


async def test_permanent_errors_are_not_retried(lark: LarkClient, recorder: Recorder) -> None:
    with pytest.raises(LarkAPIError) as failed:
        await lark.reply_text("om_unknown", "答案", uuid=reply_uuid("om_unknown"))
    assert type(failed.value) is LarkAPIError and failed.value.code == 230001
    assert recorder.count("POST", "/reply") == 1


async def test_bad_input_is_refused_before_any_request(lark: LarkClient, recorder: Recorder, chat_id: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        await lark.send_text(chat_id, "  \n", uuid=reply_uuid("om_b"))
    with pytest.raises(ValueError, match="uuid"):
        await lark.send_text(chat_id, "hi", uuid="u" * 51)
    with pytest.raises(ValueError, match="split_text"):
        await lark.send_text(chat_id, "长" * 60_000, uuid=reply_uuid("om_b"))
    with pytest.raises(ValueError, match="message_id"):
        await lark.recall("")
    with pytest.raises(ValueError, match="page_size"):
        await lark.list_messages(chat_id, page_size=0)
    assert recorder.calls == []


async def test_parts_of_a_long_answer_all_arrive(lark: LarkClient, sandbox: Sandbox, chat_id: str) -> None:
    question = await sandbox.post(chat_id, "请详细介绍一下")
    answer = "\n\n".join(f"第{i}段。" + "详细内容" * 3000 for i in range(6))
    parts = split_text(answer)
    assert len(parts) > 1
    for i, part in enumerate(parts):
        await lark.reply_text(question, part, uuid=reply_uuid(question, i), chat_id=chat_id)
    posted = [m["text"] for m in await sandbox.bot_messages(chat_id)]
    assert posted == parts
    assert "\n\n".join(posted) == answer


async def test_unreachable_lark_is_a_server_error() -> None:
    async with LarkClient(make_app(f"http://127.0.0.1:{free_port()}", max_retries=1)) as lark:
        with pytest.raises(LarkServerError, match="connection failed"):
            await lark.bot_info()


async def test_client_is_the_messenger_the_worker_uses():
    from larkdou.lark.api import Messenger

    async with LarkClient(make_app()) as lark:
        assert isinstance(lark, Messenger)
