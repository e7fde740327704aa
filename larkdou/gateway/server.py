"""`larkdou gateway`: run the gateway app under uvicorn, on uvloop and httptools where installed,
in one process or, with `--workers N` on a Redis store, in N processes sharing the listening socket."""

from __future__ import annotations

import gc
import importlib.util
import logging
import os

import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors.multiprocess import Multiprocess

from larkdou import logs, preflight
from larkdou.config import Settings, load_settings
from larkdou.errors import ConfigError
from larkdou.gateway.app import create_app
from larkdou.logs import mask_url
from larkdou.serving import config_for, listen

# how a worker process finds its config (a path, never a secret) and log level
CONFIG_ENV, LOG_LEVEL_ENV = "LARKDOU_GATEWAY_WORKER_CONFIG", "LARKDOU_GATEWAY_WORKER_LOG_LEVEL"

log = logging.getLogger("larkdou.gateway")


def check_gateway_settings(settings: Settings) -> None:
    """The gateway refuses to start without what it needs to verify Lark (webhook) or to open the
    long connection, and to guard /fetch: the same check as `larkdou config check --role gateway`."""
    preflight.check(settings, "gateway")


def check_workers(settings: Settings, workers: int) -> None:
    """More than one process needs a store they can share: Redis."""
    if workers < 1:
        raise ConfigError(f"--workers must be 1 or more, got {workers}")
    if workers > 1 and settings.gateway_store_url.startswith("sqlite:"):
        raise ConfigError(f"--workers {workers} needs a Redis store ([gateway] store = \"redis://host:6379/0\"); "
                          "a SQLite store is served by one process: run without --workers")


def _speedups() -> str:
    found = [name for name in ("uvloop", "httptools") if importlib.util.find_spec(name) is not None]
    return ", ".join(found) if found else "asyncio, h11"


def worker_app() -> Starlette:
    """The app of one `--workers` process: reads the config the parent read (its path from the
    environment; secrets from the file or their own environment variables, as in the parent)."""
    logs.setup(os.environ.get(LOG_LEVEL_ENV, "INFO"))
    settings = load_settings(os.environ.get(CONFIG_ENV) or None)
    logs.register_settings_secrets(settings)
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    return app


def serve(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    check_gateway_settings(settings)
    check_workers(settings, workers)
    keys = ("--host" if host else "[gateway] host", "--port" if port else "[gateway] port")
    host = host or settings.gateway.host
    port = port or settings.gateway.port
    sock = listen(host, port, keys=keys)
    if settings.lark_group.receive_mode == "long_connection":
        log.info("receiving events over Lark's long connection (%s); no public callback URL needed",
                 settings.lark.domain)
    elif not settings.lark_group.encrypt_key.get_secret_value():
        log.warning("no [frontend.lark_group] encrypt_key: events are accepted unsigned (token check only)")
    log.info("gateway on http://%s:%d  (Lark callback: /event, assistant: /fetch), store %s, %s%s",
             host, port, mask_url(settings.gateway_store_url), _speedups(),
             f", {workers} worker processes" if workers > 1 else "")
    if workers > 1:
        os.environ[CONFIG_ENV] = "" if settings.source == "<defaults>" else os.path.abspath(settings.source)
        os.environ[LOG_LEVEL_ENV] = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        config = config_for("larkdou.gateway.server:worker_app", host, port, factory=True, workers=workers)
        try:
            Multiprocess(config, sockets=[sock]).run()
        finally:
            sock.close()
        return
    app = create_app(settings)
    # everything imported so far lives as long as the process: keep it out of the cyclic GC's
    # scans, so collections during request bursts stay short (tail latency)
    gc.collect()
    gc.freeze()
    try:
        uvicorn.Server(config_for(app, host, port)).run(sockets=[sock])
    finally:
        sock.close()
