"""One HTTP/1.1 request written by hand, for what httpx refuses to send (e.g. `Authorization: Bearer `
with an empty token and its trailing space, as a hand-written curl line can)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


async def raw_request(base_url: str, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> tuple[int, bytes]:
    """(status, body) of one request on a fresh connection."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}", f"Content-Length: {len(body)}",
             "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload
