"""Stores chosen by URL: `sqlite:///path.db` or `redis://host:port/db`."""

from __future__ import annotations

from larkdou.errors import ConfigError
from larkdou.store.base import DeadLetter, Delivery, Ledger, Queue, SentMessage
from larkdou.store.common import DEFAULT_MAX_ATTEMPTS

__all__ = ["DeadLetter", "Delivery", "Ledger", "Queue", "SentMessage", "open_queue", "open_ledger"]

DEFAULT_DEDUP_TTL = 12 * 3600.0


def _scheme(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite"
    if url.startswith(("redis://", "rediss://", "unix://")):
        return "redis"
    raise ConfigError(f"store URL must start with sqlite:/// or redis://, got {url.split('://')[0]!r}://…")


async def open_queue(url: str, *, dedup_ttl: float = DEFAULT_DEDUP_TTL, namespace: str = "larkdou",
                     max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Queue:
    """Open (and create if needed) the message queue at `url`. A message delivered `max_attempts`
    times without an ack goes to the dead-letter list when its last lease runs out."""
    if _scheme(url) == "sqlite":
        from larkdou.store.sqlite import SqliteQueue

        return await SqliteQueue.open(url[len("sqlite:///"):], dedup_ttl=dedup_ttl, max_attempts=max_attempts)
    from larkdou.store.redis import RedisQueue

    return await RedisQueue.open(url, dedup_ttl=dedup_ttl, namespace=namespace, max_attempts=max_attempts)


async def open_ledger(url: str, *, namespace: str = "larkdou") -> Ledger:
    """Open (and create if needed) the sent-message ledger at `url`."""
    if _scheme(url) == "sqlite":
        from larkdou.store.sqlite_ledger import SqliteLedger

        return await SqliteLedger.open(url[len("sqlite:///"):])
    from larkdou.store.redis_ledger import RedisLedger

    return await RedisLedger.open(url, namespace=namespace)
