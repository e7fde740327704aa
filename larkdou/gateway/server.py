"""`larkdou gateway`: run the gateway app under uvicorn."""

from __future__ import annotations

import gc
import logging

import uvicorn

from larkdou import preflight
from larkdou.config import Settings
from larkdou.gateway.app import create_app
from larkdou.logs import mask_url
from larkdou.serving import config_for, listen

log = logging.getLogger("larkdou.gateway")


def check_gateway_settings(settings: Settings) -> None:
    """The gateway refuses to start without what it needs to verify Lark (webhook) or to open the
    long connection, and to guard /fetch: the same check as `larkdou config check --role gateway`."""
    preflight.check(settings, "gateway")


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    check_gateway_settings(settings)
    keys = ("--host" if host else "[gateway] host", "--port" if port else "[gateway] port")
    host = host or settings.gateway.host
    port = port or settings.gateway.port
    sock = listen(host, port, keys=keys)
    if settings.lark_group.receive_mode == "long_connection":
        log.info("receiving events over Lark's long connection (%s); no public callback URL needed",
                 settings.lark.domain)
    log.info("gateway on http://%s:%d  (Lark callback: /event, assistant: /fetch), store %s",
             host, port, mask_url(settings.gateway_store_url))
    app = create_app(settings)
    # everything imported so far lives as long as the process: keep it out of the cyclic GC's
    # scans, so collections during request bursts stay short (tail latency)
    gc.collect()
    gc.freeze()
    try:
        uvicorn.Server(config_for(app, host, port)).run(sockets=[sock])
    finally:
        sock.close()
