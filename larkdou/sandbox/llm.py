"""A small OpenAI-compatible server that stands in for a remote LLM in tests, benchmarks and demos.

    app = create_app(latency=10.0)                     # every answer takes 10 s
    app = create_app(fail_first=2, fail_status=429)    # the first two calls fail, then it answers
    app = create_app(hang=True)                        # never answers (client timeouts)
    app = create_app(reply=NOT_IN_DOCS)                # "the documents do not say"
    app = create_app(reply=lambda messages: "…")       # any reply you like
    app = create_app(token_delay=0.05)                 # "stream": true answers a piece every 50 ms
    app = create_app(stream_fail_after=5)              # a stream breaks after 5 pieces
    async with serving(app) as url:                    # larkdou.serving
        settings: [llm] base_url = url + "/v1", model = "test"

Routes: `POST /v1/chat/completions` (with `"stream": true`: OpenAI's server-sent `chat.completion.chunk`
events, one per word or CJK character, then `data: [DONE]`), `POST /v1/embeddings` (deterministic
hashed bag-of-tokens vectors, so similar texts get similar vectors), `GET /v1/models`.
`app.state.llm` (an `LLMBehaviour`) can be changed while serving, and records each request body
in `requests`, the number of chat calls in `calls` and the most answered at once in `max_in_flight`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from larkdou.answer.prompt import NO_ANSWER
from larkdou.kb.tokens import tokenize

NOT_IN_DOCS = NO_ANSWER
EMBED_DIM = 256
Reply = str | Callable[[list[dict[str, Any]]], str] | None


@dataclass
class LLMBehaviour:
    latency: float = 0.0  # seconds before each chat answer
    reply: Reply = None  # None: quote the first passage of the prompt, citing it as [1]
    fail_first: int = 0  # this many chat calls fail with fail_status before answers come
    fail_status: int = 500
    retry_after: float | None = None  # sent as retry-after-ms with failures
    hang: bool = False  # chat calls never answer
    api_key: str = ""  # when set, a request without "Bearer <api_key>" gets 401
    token_delay: float = 0.0  # seconds between the pieces of a streamed answer
    stream_fail_after: int | None = None  # a streamed answer sends an error event after this many pieces
    calls: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0  # the most chat calls it was answering at once
    streamed: int = 0  # pieces of streamed answers sent so far


def default_reply(messages: list[dict[str, Any]]) -> str:
    """A plausible grounded answer: the first sentence of passage [1], cited."""
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    match = re.search(r"^\[1\] \(.*?\)\n(.+)$", user, re.MULTILINE)
    if not match:
        return "I can help with larkdou questions."
    first = re.split(r"(?<=[。！？.!?])\s*", match.group(1).strip())[0]
    return f"{first} [1]"


async def _read(request: Request, key: str) -> tuple[dict[str, Any], JSONResponse | None]:
    """The JSON body, or the error response for a wrong key or a body without `key`."""
    b: LLMBehaviour = request.app.state.llm
    if b.api_key and request.headers.get("authorization") != f"Bearer {b.api_key}":
        return {}, JSONResponse({"error": {"message": "invalid api key", "type": "invalid_request_error"}},
                                status_code=401)
    try:
        body = await request.json()
        if isinstance(body, dict) and key in body:
            return body, None
    except ValueError:
        pass
    return {}, JSONResponse({"error": {"message": f"body must be JSON with {key}"}}, status_code=400)


_PIECE = re.compile(r"[\u3000-\u9fff\uff00-\uffef]|[^\s\u3000-\u9fff\uff00-\uffef]+\s*|\s+")


def pieces(text: str) -> list[str]:
    """`text` as a model streams it: words (with the space after them) and CJK characters."""
    return _PIECE.findall(text)


async def _chunks(b: LLMBehaviour, text: str, model: str, n: int) -> AsyncIterator[str]:
    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        body = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    b.in_flight += 1  # a stream is being answered until its last event
    b.max_in_flight = max(b.max_in_flight, b.in_flight)
    try:
        yield chunk({"role": "assistant", "content": ""})
        for i, piece in enumerate(pieces(text)):
            if b.stream_fail_after is not None and i >= b.stream_fail_after:
                error = {"error": {"message": "stand-in failure mid-stream", "type": "server_error"}}
                yield f"data: {json.dumps(error)}\n\n"
                return
            if b.token_delay:
                await asyncio.sleep(b.token_delay)
            b.streamed += 1
            yield chunk({"content": piece})
        yield chunk({}, "stop")
        yield "data: [DONE]\n\n"
    finally:
        b.in_flight -= 1


async def _chat(request: Request) -> Response:
    b: LLMBehaviour = request.app.state.llm
    body, error = await _read(request, "messages")
    if error is not None:
        return error
    messages = body["messages"]
    b.calls += 1
    b.requests.append(body)
    b.in_flight += 1
    b.max_in_flight = max(b.max_in_flight, b.in_flight)
    try:
        started = time.monotonic()
        # wait out the latency (or forever when hanging), but stop as soon as the client gives up
        while b.hang or time.monotonic() - started < b.latency:
            if await request.is_disconnected():
                return JSONResponse({}, status_code=499)
            await asyncio.sleep(min(0.02, max(0.0, b.latency - (time.monotonic() - started))) or 0.02)
    finally:
        b.in_flight -= 1
    if b.calls <= b.fail_first:
        headers = {"retry-after-ms": str(int(b.retry_after * 1000))} if b.retry_after is not None else {}
        return JSONResponse({"error": {"message": "stand-in failure", "type": "server_error"}},
                            status_code=b.fail_status, headers=headers)
    text = b.reply(messages) if callable(b.reply) else (b.reply if b.reply is not None else default_reply(messages))
    if body.get("stream") is True:
        return StreamingResponse(_chunks(b, text, str(body.get("model", "test")), b.calls),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    return JSONResponse({
        "id": f"chatcmpl-{b.calls}", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "test"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    })


def embed_text(text: str) -> list[float]:
    """A deterministic unit vector: token counts hashed into EMBED_DIM buckets."""
    vec = np.zeros(EMBED_DIM, dtype=np.float32)
    for tok in tokenize(text):
        vec[int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=4).digest(), "little") % EMBED_DIM] += 1
    norm = float(np.linalg.norm(vec))
    return (vec / norm if norm else vec).tolist()


async def _embeddings(request: Request) -> JSONResponse:
    b: LLMBehaviour = request.app.state.llm
    body, error = await _read(request, "input")
    if error is not None:
        return error
    texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
    b.requests.append(body)
    data = [{"object": "embedding", "index": i, "embedding": embed_text(str(t))} for i, t in enumerate(texts)]
    return JSONResponse({"object": "list", "data": data, "model": body.get("model", "test")})


async def _models(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [{"id": "test", "object": "model"}]})


def create_app(*, latency: float = 0.0, reply: Reply = None, fail_first: int = 0, fail_status: int = 500,
               retry_after: float | None = None, hang: bool = False, api_key: str = "", token_delay: float = 0.0,
               stream_fail_after: int | None = None) -> Starlette:
    """An OpenAI-compatible stand-in; see the module docstring."""
    app = Starlette(routes=[
        Route("/v1/chat/completions", _chat, methods=["POST"]),
        Route("/v1/embeddings", _embeddings, methods=["POST"]),
        Route("/v1/models", _models, methods=["GET"]),
    ])
    app.state.llm = LLMBehaviour(latency, reply, fail_first, fail_status, retry_after, hang, api_key,
                                 token_delay, stream_fail_after)
    return app
