"""Run ASGI apps on real sockets: in the foreground (CLI) or as a task inside a running loop (tests,
`--standalone`, the demo)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import socket
from typing import AsyncIterator, Mapping

import uvicorn
from starlette.responses import JSONResponse

from larkdou.errors import BindError


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


def listen(host: str, port: int, *, keys: tuple[str, str] = ("host", "port")) -> socket.socket:
    """A TCP socket bound to host:port, for uvicorn to serve on. When the address cannot be used,
    a BindError in one line that names the config keys (`keys`: the host's and the port's), e.g.
    "port 8888 is in use ([assistant] port)"."""
    host_key, port_key = keys
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose protocol says TCP;
    # without it every response waits for delayed ACKs (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BindError(_bind_problem(exc, host, port, host_key, port_key)) from None
    return sock


def check_free(*addresses: tuple[str, int, tuple[str, str]]) -> None:
    """Fail early, before anything connects anywhere, when one of (host, port, keys) cannot be
    listened on; the servers bind again when they start."""
    for host, port, keys in addresses:
        listen(host, port, keys=keys).close()


def _bind_problem(exc: OSError, host: str, port: int, host_key: str, port_key: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use ({port_key})"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port} ({port_key}; ports below 1024 need root)"
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"cannot listen on {host!r}: not an address of this machine ({host_key})"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc} ({host_key}, {port_key})"


@contextlib.asynccontextmanager
async def serving(app, host: str = "127.0.0.1", port: int = 0, *,  # type: ignore[no-untyped-def]
                  keys: tuple[str, str] = ("host", "port")) -> AsyncIterator[str]:
    """Serve `app` on host:port inside the current loop; yields the base URL. Port 0 picks a free one.
    An address that cannot be used is a BindError naming `keys` (see `listen`)."""
    sock = listen(host, port, keys=keys)
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
