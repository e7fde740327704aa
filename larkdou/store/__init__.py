"""Stores chosen by URL: `sqlite:///path.db` or `redis://host:port/db`."""

from __future__ import annotations

from larkdou.config import Settings
from larkdou.errors import ConfigError
from larkdou.store.base import DeadLetter, Delivery, Ledger, Queue, SentMessage
from larkdou.store.common import DEFAULT_MAX_ATTEMPTS
from larkdou.store.context import DEFAULT_KEEP, DEFAULT_TTL, ContextEntry, ContextStore

__all__ = ["ContextEntry", "ContextStore", "DeadLetter", "Delivery", "Ledger", "Queue", "SentMessage",
           "open_chat_context", "open_context", "open_queue", "open_ledger"]

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


async def open_context(url: str, *, keep: int = DEFAULT_KEEP, ttl: float = DEFAULT_TTL,
                       namespace: str = "larkdou") -> ContextStore:
    """Open (and create if needed) the conversation context store at `url`: the assistant's store,
    beside the ledger. Keeps the newest `keep` messages per chat, each for `ttl` seconds."""
    if _scheme(url) == "sqlite":
        from larkdou.store.context_sqlite import SqliteContext

        return await SqliteContext.open(url[len("sqlite:///"):], keep=keep, ttl=ttl)
    from larkdou.store.context_redis import RedisContext

    return await RedisContext.open(url, keep=keep, ttl=ttl, namespace=namespace)


async def open_chat_context(settings: Settings) -> ContextStore:
    """The assistant's context store: `[assistant] store`, `context_per_chat`, `context_hours`."""
    a = settings.assistant
    return await open_context(settings.assistant_store_url, keep=a.context_per_chat, ttl=a.context_hours * 3600)
