"""The OpenAI-compatible client: limits, retries, errors, and the guide's provider keys."""

from __future__ import annotations

import asyncio

import pytest

from larkdou.answer.llm import PROVIDERS, LLMClient, llm_endpoint
from larkdou.errors import ConfigError, LLMError
from larkdou.sandbox.llm import create_app
from larkdou.serving import serving
from tests.kb.helpers import settings_for

HELLO = [{"role": "user", "content": "hello"}]


async def test_rate_limit_answers_are_retried_after_the_servers_delay() -> None:
    app = create_app(reply="pong", fail_first=2, fail_status=429, retry_after=0.01)
    async with serving(app) as url:
        client = LLMClient(f"{url}/v1", "test", retries=2)  # the server's Retry-After is honoured
        assert await client.chat(HELLO) == "pong"
        await client.aclose()
    assert app.state.llm.calls == 3


async def test_client_errors_are_not_retried_and_hide_the_key() -> None:
    app = create_app(api_key="right-key")
    async with serving(app) as url:
        client = LLMClient(f"{url}/v1", "test", api_key="wrong-key-123", retries=3)
        with pytest.raises(LLMError, match="HTTP 401") as err:
            await client.chat(HELLO)
        await client.aclose()
    assert app.state.llm.calls == 0  # refused before it counted as a chat call
    assert "wrong-key-123" not in str(err.value)


async def test_concurrency_limit_holds() -> None:
    app = create_app(reply="ok", latency=0.2)
    async with serving(app) as url:
        client = LLMClient(f"{url}/v1", "test", concurrency=2)
        assert await asyncio.gather(*(client.chat(HELLO) for _ in range(5))) == ["ok"] * 5
        await client.aclose()
    assert app.state.llm.max_in_flight == 2


async def test_unreachable_server_is_an_llm_error() -> None:
    async with serving(create_app()) as url:
        pass  # the port is free again
    client = LLMClient(f"{url}/v1", "test", retries=1)
    with pytest.raises(LLMError, match="failed after 2 attempts"):
        await client.chat(HELLO)
    await client.aclose()


async def test_empty_answer_is_an_error() -> None:
    async with serving(create_app(reply="   ")) as url:
        client = LLMClient(f"{url}/v1", "test", retries=0)
        with pytest.raises(LLMError, match="empty"):
            await client.chat(HELLO)
        await client.aclose()


def test_guide_keys_map_to_known_providers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = settings_for(tmp_path, llm={"server": {"remote_type": "kimi", "remote_api_key": "sk-kimi"}})
    assert llm_endpoint(s) == (PROVIDERS["kimi"][0], PROVIDERS["kimi"][1], "sk-kimi")
    s = settings_for(tmp_path, llm={"server": {"remote_type": "deepseek", "remote_llm_model": "deepseek-reasoner",
                                               "remote_api_key": "sk-ds"}})
    assert llm_endpoint(s)[:2] == ("https://api.deepseek.com/v1", "deepseek-reasoner")
    for name in ("zhipuai", "step", "siliconcloud", "internlm", "vllm"):
        assert name in PROVIDERS


def test_llm_table_takes_precedence(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = settings_for(tmp_path, llm={"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "k1",
                                    "server": {"remote_type": "kimi", "remote_api_key": "k2"}})
    assert llm_endpoint(s) == ("http://127.0.0.1:9/v1", "m", "k1")
    assert llm_endpoint(settings_for(tmp_path)) is None


def test_llm_config_mistakes_are_clear(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="remote_type: unknown provider 'gpt5'.*known: "):
        llm_endpoint(settings_for(tmp_path, llm={"server": {"remote_type": "gpt5"}}))
    with pytest.raises(ConfigError, match=r"\[llm\] model is required"):
        llm_endpoint(settings_for(tmp_path, llm={"server": {"remote_type": "vllm"}}))
    with pytest.raises(ConfigError, match="base_url: must be an http:// or https:// URL"):
        llm_endpoint(settings_for(tmp_path, llm={"base_url": "api.example.com", "model": "m"}))
    for key in ("", "YOUR-API-KEY-HERE"):  # a hosted provider would refuse every question
        with pytest.raises(ConfigError, match=r"\[llm.server\] remote_api_key is required for remote_type 'openai'"):
            llm_endpoint(settings_for(tmp_path, llm={"server": {"remote_type": "openai", "remote_api_key": key}}))


def test_huixiangdou_auto_model_means_the_providers_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = settings_for(tmp_path, llm={"server": {"remote_type": "kimi", "remote_api_key": "sk-1",
                                               "remote_llm_model": "auto"}})
    assert llm_endpoint(s)[1] == PROVIDERS["kimi"][1]
