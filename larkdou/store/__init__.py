"""Stores chosen by URL: `sqlite:///path.db` or `redis://host:port/db`."""

from __future__ import annotations

from larkdou.errors import ConfigError
from larkdou.store.base import Delivery, Ledger, Queue, SentMessage

__all__ = ["Delivery", "Ledger", "Queue", "SentMessage", "open_queue", "open_ledger"]

DEFAULT_DEDUP_TTL = 12 * 3600.0


def _scheme(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite"
    if url.startswith(("redis://", "rediss://", "unix://")):
        return "redis"
    raise ConfigError(f"store URL must start with sqlite:/// or redis://, got {url.split('://')[0]!r}://…")


async def open_queue(url: str, *, dedup_ttl: float = DEFAULT_DEDUP_TTL, namespace: str = "larkdou") -> Queue:
    """Open (and create if needed) the message queue at `url`."""
    if _scheme(url) == "sqlite":
        from larkdou.store.sqlite import SqliteQueue

        return await SqliteQueue.open(url[len("sqlite:///"):], dedup_ttl=dedup_ttl)
    from larkdou.store.redis import RedisQueue

    return await RedisQueue.open(url, dedup_ttl=dedup_ttl, namespace=namespace)


async def open_ledger(url: str, *, namespace: str = "larkdou") -> Ledger:
    """Open (and create if needed) the sent-message ledger at `url`."""
    if _scheme(url) == "sqlite":
        from larkdou.store.sqlite import SqliteLedger

        return await SqliteLedger.open(url[len("sqlite:///"):])
    from larkdou.store.redis import RedisLedger

    return await RedisLedger.open(url, namespace=namespace)
