"""LLMClient.stream against the OpenAI-compatible stand-in: pieces arrive while the answer is still
being written, under the same limits as chat, and failures are LLMErrors (after what already came)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from larkdou.answer.llm import LLMClient
from larkdou.errors import LLMError
from larkdou.sandbox.llm import create_app, pieces
from larkdou.serving import serving

HELLO = [{"role": "user", "content": "介绍一下沙箱"}]
REPLY = "沙箱在本机扮演飞书：Open API、事件推送和一个网页。Run `larkdou sandbox` to start it."


async def test_pieces_arrive_while_the_answer_is_still_being_written() -> None:
    app = create_app(reply=REPLY, token_delay=0.01)
    async with serving(app) as url:
        client = LLMClient(f"{url}/v1", "test")
        got, sent_when_first_arrived = [], None
        async for piece in client.stream(HELLO):
            if sent_when_first_arrived is None:
                sent_when_first_arrived = app.state.llm.streamed
            got.append(piece)
        await client.aclose()
    assert "".join(got) == REPLY and got == pieces(REPLY) and len(got) > 20
    assert sent_when_first_arrived < len(got)  # the first piece came before the server had sent them all
    assert app.state.llm.requests[0]["stream"] is True


async def test_a_failure_mid_stream_comes_after_the_pieces_already_sent() -> None:
    app = create_app(reply=REPLY, stream_fail_after=5, api_key="sk-secret-key")
    async with serving(app) as url:
        client = LLMClient(f"{url}/v1", "test", api_key="sk-secret-key", retries=3)
        got = []
        with pytest.raises(LLMError, match="after 5 pieces") as failed:
            async for piece in client.stream(HELLO):
                got.append(piece)
        await client.aclose()
    assert got == pieces(REPLY)[:5]
    assert app.state.llm.calls == 1  # a broken stream is not started again
    assert "sk-secret-key" not in str(failed.value)


async def test_starting_is_retried_like_chat_and_refusals_are_not() -> None:
    app = create_app(reply="ok", fail_first=2, fail_status=503, retry_after=0.01)
    async with serving(app) as url:
        client = LLMClient(f"{url}/v1", "test", retries=2)
        assert [p async for p in client.stream(HELLO)] == ["ok"]
        await client.aclose()
    assert app.state.llm.calls == 3
    async with serving(create_app(api_key="right")) as url:
        client = LLMClient(f"{url}/v1", "test", api_key="wrong", retries=3)
        with pytest.raises(LLMError, match="refused the request: HTTP 401"):
            async for _ in client.stream(HELLO):
                pass
        await client.aclose()


async def test_streams_share_the_concurrency_limit_and_release_it_when_cancelled() -> None:
    app = create_app(reply=REPLY, token_delay=0.01)
    async with serving(app) as url:
        client = LLMClient(f"{url}/v1", "test", concurrency=1)

        async def read() -> str:
            return "".join([p async for p in client.stream(HELLO)])

        assert await asyncio.gather(read(), read()) == [REPLY, REPLY]
        assert app.state.llm.max_in_flight == 1

        async def read_forever() -> None:
            async with contextlib.aclosing(client.stream(HELLO)) as stream:
                async for _ in stream:
                    await asyncio.sleep(10)

        reader = asyncio.create_task(read_forever())
        while app.state.llm.streamed < 2 * len(pieces(REPLY)) + 1:
            await asyncio.sleep(0.01)
        reader.cancel()  # e.g. a recall cancels the answer being written
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        assert await asyncio.wait_for(read(), 10) == REPLY  # the slot was given back
        await client.aclose()


async def test_an_empty_stream_is_an_error() -> None:
    async with serving(create_app(reply="")) as url:
        client = LLMClient(f"{url}/v1", "test", retries=0)
        with pytest.raises(LLMError, match="empty"):
            async for _ in client.stream(HELLO):
                pass
        await client.aclose()


async def test_a_stalled_stream_times_out() -> None:
    async with serving(create_app(reply=REPLY, token_delay=2.0)) as url:
        client = LLMClient(f"{url}/v1", "test", timeout=0.2, retries=0)
        with pytest.raises(LLMError, match="timed out"):
            async for _ in client.stream(HELLO):
                pass
        await client.aclose()
