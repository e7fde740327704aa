"""The sandbox application: a local Lark Open Platform (Open API, event push, web page).

Credentials come from `[frontend.lark_group]`. Unset ones take the documented sandbox defaults
below, announced at start; without an encrypt key, events are pushed as plain JSON.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from larkdou.config import Settings
from larkdou.errors import ConfigError
from larkdou.sandbox import control, openapi
from larkdou.sandbox.longconn import LongConnHub
from larkdou.sandbox.push import Pusher
from larkdou.sandbox.state import Credentials, SandboxState
from larkdou.serving import config_for, listen

STATIC = Path(__file__).parent / "static"
DEFAULT_APP_ID = "cli_sandbox0000000000"
DEFAULT_APP_SECRET = "sandbox-app-secret"
DEFAULT_VERIFICATION_TOKEN = "sandbox-verification-token"


def credentials(settings: Settings) -> tuple[Credentials, list[str]]:
    """The app's credentials, and the names of those that fell back to sandbox defaults."""
    group = settings.frontend.lark_group
    given = {"app_id": group.app_id, "app_secret": settings.secret(group.app_secret),
             "verification_token": settings.secret(group.verification_token)}
    defaults = {"app_id": DEFAULT_APP_ID, "app_secret": DEFAULT_APP_SECRET,
                "verification_token": DEFAULT_VERIFICATION_TOKEN}
    used = [k for k, v in given.items() if not v]
    values = {k: v or defaults[k] for k, v in given.items()}
    return Credentials(encrypt_key=settings.secret(group.encrypt_key), **values), used


def default_callback(settings: Settings) -> str:
    return settings.sandbox.callback or f"http://127.0.0.1:{settings.gateway.port}/event"


def create_app(settings: Settings, *, callback: str | None = None) -> Starlette:
    """The sandbox as an ASGI app; `app.state.sandbox` is its state, `app.state.pusher` the push."""
    creds, _ = credentials(settings)
    target = callback or default_callback(settings)
    if not target.startswith(("http://", "https://")):
        raise ConfigError(f"the sandbox's callback must be an http:// or https:// URL, got {target!r}")
    state = SandboxState(creds, settings.sandbox, target)
    hub = LongConnHub(state)
    pusher = Pusher(state, hub)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pusher.start()
        try:
            yield
        finally:
            await hub.close()
            await pusher.close()

    async def page(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def to_page(request: Request) -> RedirectResponse:
        return RedirectResponse("/sandbox/")

    app = Starlette(routes=[
        Route("/", to_page, methods=["GET"]),
        Route("/sandbox", to_page, methods=["GET"]),
        Route("/sandbox/", page, methods=["GET"]),
        Mount("/sandbox/static", StaticFiles(directory=STATIC), name="static"),
        *openapi.routes(state),
        *control.routes(state, pusher),
        *hub.routes(),
    ], lifespan=lifespan)
    app.state.sandbox = state
    app.state.pusher = pusher
    app.state.longconn = hub
    return app


def serve(settings: Settings, port: int | None = None, callback: str | None = None) -> None:
    """Run the sandbox in the foreground (`larkdou sandbox`); prints where to find it."""
    host = settings.sandbox.host
    app = create_app(settings, callback=callback)
    state: SandboxState = app.state.sandbox
    keys = ("[sandbox] host", "[sandbox] port" if port is None else "--port")
    sock = listen(host, settings.sandbox.port if port is None else port, keys=keys)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    base = f"http://{shown}:{sock.getsockname()[1]}"
    _, defaults = credentials(settings)
    print(f"larkdou sandbox: web page {base}/sandbox/", flush=True)
    print(f"  Open API for app_id {state.creds.app_id}: set [lark] domain = \"{base}\"")
    how = "encrypted and signed" if state.creds.encrypt_key else "as plain JSON (no encrypt_key configured)"
    print(f"  events are pushed {how} to {state.tunables.callback}")
    print("  long connection: clients discover it at /callback/ws/endpoint; while one is connected, events go there")
    if defaults:
        print(f"  using the sandbox's default {', '.join(defaults)} (not set in [frontend.lark_group]; see docs/sandbox.md)")
    server = uvicorn.Server(config_for(app, host, sock.getsockname()[1]))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
