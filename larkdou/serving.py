"""Run ASGI apps on real sockets: in the foreground (CLI) or as a task inside a running loop (tests,
`--standalone`, the demo)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
from typing import AsyncIterator, Mapping

import uvicorn
from starlette.responses import JSONResponse


def error_response(status: int, reason: str, message: str) -> JSONResponse:
    """larkdou's error body for a refused HTTP request: a short machine reason and a sentence."""
    return JSONResponse({"error": reason, "message": message}, status_code=status)


def bearer_ok(headers: Mapping[str, str], token: str) -> bool:
    """True when `Authorization: Bearer <token>` carries exactly `token` (constant time). Never true
    for an empty `token`: a route guarded by an unset token is closed, not open."""
    if not token:
        return False
    scheme, _, given = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8", "replace"),
                                                              token.encode("utf-8"))


def unauthorized(hint: str) -> JSONResponse:
    """The 401 for a route that needs a bearer token; `hint` names the config key, never its value."""
    resp = error_response(401, "unauthorized", hint)
    resp.headers["WWW-Authenticate"] = "Bearer"
    return resp


def config_for(app, host: str, port: int, **kw) -> uvicorn.Config:  # type: ignore[no-untyped-def]
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          lifespan="on", timeout_graceful_shutdown=2, **kw)


@contextlib.asynccontextmanager
async def serving(app, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """Serve `app` on host:port inside the current loop; yields the base URL. Port 0 picks a free one."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose protocol says TCP;
    # without it every response waits for delayed ACKs (~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(config_for(app, host, sock.getsockname()[1]))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # signals belong to the embedding program
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises the start-up error
                raise RuntimeError("server exited during start-up")
            await asyncio.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=5)
        sock.close()
