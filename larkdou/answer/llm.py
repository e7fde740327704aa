"""An OpenAI-compatible chat client with the limits a shared deployment needs.

`POST {base_url}/chat/completions`, at most `concurrency` requests in flight and `rpm` started per
minute, each attempt bounded by `timeout`; the `openai` SDK retries 429, 5xx, timeouts and transport
errors with backoff (honouring `Retry-After`), anything else fails at once. Failure is an `LLMError` whose text
never contains the API key. Cancelling `chat` cancels the request. `check()` is the start-up check;
`health` (an `LLMHealth`) counts failures by kind and says whether the LLM is degraded.

The guide's `[llm.server] remote_type / remote_api_key / remote_llm_model` pick a known provider's
OpenAI-compatible endpoint; `[llm] base_url / model / api_key` take precedence over them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import AsyncIterator, Iterator

import openai
from prometheus_client.core import CounterMetricFamily

from larkdou.config import Settings
from larkdou.errors import ConfigError, LLMError
from larkdou.ratelimit import RateLimiter

log = logging.getLogger(__name__)

# remote_type -> (OpenAI-compatible base URL, default model)
PROVIDERS: dict[str, tuple[str, str]] = {
    "kimi": ("https://api.moonshot.cn/v1", "moonshot-v1-8k"),
    "moonshot": ("https://api.moonshot.cn/v1", "moonshot-v1-8k"),
    "deepseek": ("https://api.deepseek.com/v1", "deepseek-chat"),
    "zhipuai": ("https://open.bigmodel.cn/api/paas/v4", "glm-4-flash"),
    "step": ("https://api.stepfun.com/v1", "step-1-8k"),
    "siliconcloud": ("https://api.siliconflow.cn/v1", "Qwen/Qwen2.5-7B-Instruct"),
    "internlm": ("https://internlm-chat.intern-ai.org.cn/puyu/api/v1", "internlm2.5-latest"),
    "qwen": ("https://dashscope.aliyuncs.com/compatible-mode/v1", "qwen-plus"),
    "gpt": ("https://api.openai.com/v1", "gpt-4o-mini"),
    "openai": ("https://api.openai.com/v1", "gpt-4o-mini"),
    "vllm": ("http://127.0.0.1:8000/v1", ""),
}
KEYLESS = {"vllm"}  # providers that run without an API key
PLACEHOLDER = re.compile(r"your.?api.?key|\$\{", re.IGNORECASE)  # e.g. HuixiangDou's "YOUR-API-KEY-HERE"


CHECK_TIMEOUT = 5.0  # seconds for the start-up check
FAILURE_KINDS = ("timeout", "connection", "rate_limited", "server_error", "refused", "bad_response")
RETRIED = ("timeout", "connection", "rate_limited", "server_error")  # the SDK retries these first


def _failure(exc: openai.APIError) -> tuple[str, str]:
    """(kind, what happened) for an SDK error; the text never holds the key."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", "timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "connection", type(exc.__cause__ or exc).__name__
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            return "rate_limited", "HTTP 429"
        if status in (408, 409) or status >= 500:
            return "server_error", f"HTTP {status}"
        hint = " (check [llm] api_key)" if status in (401, 403) else ""
        return "refused", f"refused the request: HTTP {status}{hint}"
    return "bad_response", f"sent an unexpected answer ({type(exc).__name__})"


class LLMHealth:
    """Failure accounting of one LLM client: failures by kind for `/metrics`
    (`larkdou_llm_failures_total{kind}`, as a collector of the registry it is registered on) and the
    state `/healthz` shows: degraded after a failure, ok again after a success."""

    def __init__(self) -> None:
        self.failures: dict[str, int] = {kind: 0 for kind in FAILURE_KINDS}
        self.consecutive = 0
        self.last_error = ""
        self.last_ok: float | None = None

    def failed(self, kind: str, text: str) -> LLMError:
        """Count a failure; returns the LLMError to raise."""
        self.failures[kind] = self.failures.get(kind, 0) + 1
        self.consecutive += 1
        self.last_error = text
        return LLMError(text)

    def succeeded(self) -> None:
        self.consecutive = 0
        self.last_ok = time.time()

    def state(self) -> dict[str, object]:
        """For /healthz: {"state": "ok" | "degraded", "ok": bool, …}."""
        ok = self.consecutive == 0
        out: dict[str, object] = {"state": "ok" if ok else "degraded", "ok": ok,
                                  "failures": sum(self.failures.values()), "last_ok": self.last_ok}
        if not ok:
            out["consecutive_failures"] = self.consecutive
            out["error"] = self.last_error
        return out

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("larkdou_llm_failures", "LLM requests that failed for good, by kind",
                                     labels=["kind"])
        for kind, n in self.failures.items():
            family.add_metric([kind], n)
        yield family


class LLMClient:
    """Chat completions against one OpenAI-compatible endpoint, through the official `openai` SDK
    (which retries 408/409/429/5xx, timeouts and connection errors with backoff, honouring
    `Retry-After`); here: at most `concurrency` requests in flight and `rpm` started per minute."""

    def __init__(self, base_url: str, model: str, api_key: str = "", *, rpm: int = 0, concurrency: int = 4,
                 timeout: float = 60.0, retries: int = 2, temperature: float = 0.2, max_tokens: int = 1024):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.retries = retries
        self._params = {"temperature": temperature, "max_tokens": max_tokens}
        # a keyless local server (vllm) still gets a syntactically valid header
        self._client = openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key or "none", timeout=timeout,
                                          max_retries=retries)
        self._slots = asyncio.Semaphore(concurrency)
        self._rate = RateLimiter(rpm / 60.0) if rpm else None
        self.health = LLMHealth()

    async def chat(self, messages: list[dict[str, str]]) -> str:
        """The assistant's reply text; LLMError once every attempt has failed."""
        async with self._slots:
            if self._rate is not None:
                await self._rate.acquire()
            try:
                resp = await self._client.chat.completions.create(model=self.model, messages=messages,
                                                                  **self._params)  # type: ignore[arg-type]
            except openai.APIError as exc:
                kind, what = _failure(exc)
                raise self.health.failed(kind, f"LLM {self.base_url} failed after {self.retries + 1} attempts: "
                                         f"{what}" if kind in RETRIED else f"LLM {self.base_url} {what}") from None
        try:
            text = resp.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            raise self.health.failed("bad_response", f"LLM {self.base_url} sent an unexpected body") from None
        if not isinstance(text, str) or not text.strip():
            raise self.health.failed("bad_response", f"LLM {self.base_url} sent an empty answer")
        self.health.succeeded()
        return text.strip()

    async def check(self, timeout: float = CHECK_TIMEOUT) -> bool:
        """One cheap request (`GET {base_url}/models`, no retries) to see whether the LLM answers and
        takes the key; says how it went in one log line. An endpoint without `/models` (404, 405)
        counts as reachable. Never raises."""
        try:
            await self._client.with_options(max_retries=0, timeout=timeout).models.list()
        except openai.NotFoundError:
            pass
        except openai.APIStatusError as exc:
            if exc.status_code != 405:
                return self._check_failed(exc)
        except openai.APIError as exc:
            return self._check_failed(exc)
        self.health.succeeded()
        log.info("LLM %s (model %s): reachable", self.base_url, self.model)
        return True

    def _check_failed(self, exc: openai.APIError) -> bool:
        kind, what = _failure(exc)
        problem = what if kind == "refused" else f"unreachable ({what})"
        self.health.failed(kind, f"LLM {self.base_url} {problem}")
        log.warning("LLM %s (model %s) not usable at start: %s; starting anyway, /healthz shows llm "
                    "degraded until a request to it succeeds", self.base_url, self.model, problem)
        return False

    async def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        """The reply as it is written: an async iterator of text pieces (`stream=True`), under the same
        limits as `chat` (a concurrency slot is held until the stream ends, `timeout` bounds each wait
        for data). Starting the request is retried like `chat`; a failure after some pieces raises
        `LLMError` once those pieces were yielded. Close it (`contextlib.aclosing`) or let its consumer
        be cancelled to stop the request."""
        async with self._slots:
            if self._rate is not None:
                await self._rate.acquire()
            try:
                chunks = await self._client.chat.completions.create(model=self.model, messages=messages,  # type: ignore[arg-type]
                                                                    stream=True, **self._params)
            except (openai.APIError, ValueError) as exc:
                raise self._stream_error(exc, 0) from None
            sent = 0
            try:
                async for chunk in chunks:
                    for choice in chunk.choices or []:
                        piece = choice.delta.content if choice.delta is not None else None
                        if piece:
                            sent += 1
                            yield piece
            except (openai.APIError, ValueError) as exc:
                raise self._stream_error(exc, sent) from None
            finally:
                await chunks.close()
            if not sent:
                raise self.health.failed("bad_response", f"LLM {self.base_url} sent an empty answer")
            self.health.succeeded()

    def _stream_error(self, exc: Exception, sent: int) -> LLMError:
        """What went wrong (counted in `health`), without the key; `sent` pieces had already arrived."""
        if not isinstance(exc, openai.APIError):
            return self.health.failed("bad_response", f"LLM {self.base_url} sent an unexpected stream")
        kind, what = _failure(exc)
        where = f"after {sent} pieces" if sent else f"after {self.retries + 1} attempts"
        text = f"LLM {self.base_url} failed {where}: {what}" if kind in RETRIED or sent else f"LLM {self.base_url} {what}"
        return self.health.failed(kind, text)

    async def aclose(self) -> None:
        await self._client.close()


def llm_endpoint(settings: Settings) -> tuple[str, str, str] | None:
    """(base_url, model, api_key) from `[llm]` or the guide's `[llm.server]`; None when not configured."""
    llm, server = settings.llm, settings.llm.server
    base_url, model, api_key = llm.base_url, llm.model, settings.secret(llm.api_key)
    remote = server.remote_type.strip().lower()
    if not base_url and llm.enable_remote and remote:
        if remote not in PROVIDERS:
            raise ConfigError(f"{settings.source}: [llm.server] remote_type: unknown provider {server.remote_type!r} "
                              f"(known: {', '.join(sorted(PROVIDERS))}; or set [llm] base_url)")
        base_url, default_model = PROVIDERS[remote]
        chosen = model or server.remote_llm_model
        # HuixiangDou's "auto" picks a model by prompt length; here it means the provider's default
        model = default_model if chosen in ("", "auto") else chosen
        api_key = api_key or settings.secret(server.remote_api_key)
        if remote not in KEYLESS and (not api_key or PLACEHOLDER.search(api_key)):
            raise ConfigError(f"{settings.source}: [llm.server] remote_api_key is required for remote_type "
                              f"{server.remote_type!r} ({'a placeholder is set' if api_key else 'not set'}; "
                              "or set LARKDOU_REMOTE_API_KEY, or enable_remote = false for no LLM)")
    if not base_url:
        return None
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{settings.source}: [llm] base_url: must start with http:// or https://")
    if not model:
        raise ConfigError(f"{settings.source}: [llm] model is required with base_url {base_url}"
                          " (or [llm.server] remote_llm_model)")
    return base_url, model, api_key


def make_llm(settings: Settings) -> LLMClient | None:
    """The configured LLM client, or None for extractive answers."""
    endpoint = llm_endpoint(settings)
    if endpoint is None:
        return None
    llm = settings.llm
    base_url, model, api_key = endpoint
    return LLMClient(base_url, model, api_key, rpm=llm.rpm or llm.server.rpm, concurrency=llm.concurrency,
                     timeout=llm.timeout, retries=llm.retries,
                     temperature=llm.temperature, max_tokens=llm.max_tokens)
