"""An answer streamed into one card against the real sandbox: it grows in a few updates, ends as the
final card, and once stopped (a recall) nothing about it is sent again."""

from __future__ import annotations

import asyncio
import json

from larkdou.lark.cards import answer_card, recall_footer, streaming_card, thinking_card
from larkdou.lark.client import LarkClient, reply_uuid
from larkdou.lark.stream import CardStream
from tests.lark.conftest import Recorder, Sandbox

TOKENS = [f"第{i}个词，" for i in range(40)]


def render(text: str) -> dict:
    return streaming_card(text, footer=recall_footer())


async def feed(stream: CardStream, tokens: list[str], gap: float = 0.02) -> None:
    for token in tokens:
        stream.push(token)
        await asyncio.sleep(gap)


async def shown(sandbox: Sandbox, chat_id: str, message_id: str) -> dict:
    return next(m for m in await sandbox.messages(chat_id) if m["message_id"] == message_id)


async def test_a_streamed_answer_grows_then_ends_as_the_final_card(lark: LarkClient, sandbox: Sandbox,
                                                                   recorder: Recorder, chat_id: str) -> None:
    question = await sandbox.post(chat_id, "讲一讲")
    stream = CardStream(lark, render=render, chat_id=chat_id, interval=0.2)
    sent = await stream.open(reply_to=question, card=thinking_card(footer=recall_footer()), uuid=reply_uuid(question))
    seen: list[str] = []

    async def watch() -> None:
        while True:
            seen.append(json.loads((await shown(sandbox, chat_id, sent.message_id))["content"])
                        ["body"]["elements"][0]["content"])
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    await feed(stream, TOKENS)
    final = answer_card(stream.text, footer=recall_footer())
    assert await stream.close(final) is True
    watcher.cancel()
    assert json.loads((await shown(sandbox, chat_id, sent.message_id))["content"]) == final
    growing = [s for s in dict.fromkeys(seen) if s.startswith("第0个词")]
    assert len(growing) >= 2 and all(len(a) < len(b) for a, b in zip(growing, growing[1:]))  # it grew
    assert 2 <= recorder.count("PATCH") < len(TOKENS) // 2  # a few updates, not one per token
    assert [m["message_id"] for m in await sandbox.bot_messages(chat_id)] == [sent.message_id]


async def test_stop_ends_the_stream_before_the_recall(lark: LarkClient, sandbox: Sandbox, recorder: Recorder,
                                                      chat_id: str) -> None:
    question = await sandbox.post(chat_id, "讲一讲")
    stream = CardStream(lark, render=render, chat_id=chat_id, interval=0.05)
    sent = await stream.open(reply_to=question, card=thinking_card(), uuid=reply_uuid(question))
    producer = asyncio.create_task(feed(stream, TOKENS))
    await asyncio.sleep(0.3)
    await stream.stop()  # the recall lane: stop the stream, then recall the card
    patches = recorder.count("PATCH")
    await lark.recall(sent.message_id, chat_id=chat_id)
    await producer  # the model keeps talking for a while
    assert await stream.close(answer_card(stream.text or "x")) is False
    await asyncio.sleep(0.2)
    assert recorder.count("PATCH") == patches  # nothing after stop()
    card = await shown(sandbox, chat_id, sent.message_id)
    assert card["deleted"] is True


async def test_a_card_recalled_elsewhere_stops_the_stream(lark: LarkClient, sandbox: Sandbox, recorder: Recorder,
                                                          chat_id: str) -> None:
    question = await sandbox.post(chat_id, "讲一讲")
    stream = CardStream(lark, render=render, chat_id=chat_id, interval=0.05)
    sent = await stream.open(reply_to=question, card=thinking_card(), uuid=reply_uuid(question))
    await lark.recall(sent.message_id)  # e.g. another assistant instance took the recall
    await feed(stream, TOKENS[:10])
    await asyncio.sleep(0.2)
    assert stream.stopped
    patches = recorder.count("PATCH")
    assert patches >= 1  # one update found the card gone …
    stream.push("more")
    assert await stream.close(answer_card("final")) is False
    assert recorder.count("PATCH") == patches  # … and then nothing more was tried
