"""The Redis store: queue and ledger shared by any number of gateways and assistants on one Redis.

Each change is one Lua script (see `redis_scripts` for the keys), so it is atomic and one round trip.
Consumers that long-poll are woken through pub/sub and also re-check every `POLL_SECONDS`. Connection
failures surface quickly as `StoreError` (1 s connect timeout, one retry), never as a driver exception.
See `larkdou.store.base` for the contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any, AsyncIterator, Sequence
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from larkdou.errors import ConfigError, StoreError
from larkdou.message import LANE_NORMAL, LANE_RECALL, Message
from larkdou.store import redis_scripts as lua
from larkdou.store import wake
from larkdou.store.base import Delivery, SentMessage
from larkdou.store.common import LEDGER_RETENTION, delivery_seq, dump_message, load_message, long_poll, now_ms

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # long-poll re-check when pub/sub is silent: leases that ran out, a lost subscription
CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 5.0
MAX_CONNECTIONS = 64  # per process; more concurrent callers wait for a free connection


def _where(url: str) -> str:
    """host:port/db of a Redis URL, without credentials (safe for messages and logs)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    try:
        port = parts.port or 6379
    except ValueError:
        port = "?"
    return f"{parts.hostname or 'localhost'}:{port}{parts.path or '/0'}"


class _RedisStore:
    """Connection, error mapping and scripts common to the Redis queue and ledger."""

    def __init__(self, client: Redis, where: str, namespace: str) -> None:
        self._redis = client
        self._where = where
        self._prefix = "{" + namespace + "}:"
        self._scripts: dict[str, AsyncScript] = {}

    @classmethod
    async def _connect(cls, url: str) -> tuple[Redis, str]:
        where = _where(url)
        parts = urlsplit(url)
        if parts.scheme != "unix" and parts.path.strip("/") and not parts.path.strip("/").isdigit():
            raise ConfigError(f"store URL for redis {where}: the database must be a number, as in redis://host:6379/0")
        try:
            pool = BlockingConnectionPool.from_url(
                url, max_connections=MAX_CONNECTIONS, timeout=COMMAND_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=COMMAND_TIMEOUT, retry=Retry(NoBackoff(), 1), decode_responses=True)
        except ValueError as exc:
            raise ConfigError(f"store URL for redis {where} is invalid: {exc}") from None
        client = Redis.from_pool(pool)
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise StoreError(f"redis store {where} is unreachable: {exc}") from exc
        return client, where

    @contextlib.contextmanager
    def _errors(self) -> Any:
        try:
            yield
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis store {self._where}: {exc}") from exc

    async def _script(self, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._redis.register_script(source)
        with self._errors():
            return await script(keys=list(keys), args=list(args))

    async def ping(self) -> None:
        with self._errors():
            await self._redis.ping()

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()


class RedisQueue(_RedisStore):
    """The message queue on Redis. Open with `await RedisQueue.open(url, dedup_ttl=…, namespace=…)`."""

    def __init__(self, client: Redis, where: str, namespace: str, dedup_ttl: float) -> None:
        super().__init__(client, where, namespace)
        self._dedup_ms = max(1, int(dedup_ttl * 1000))
        p = self._prefix
        self._seq, self._leased, self._meta = p + "q:seq", p + "q:leased", p + "q:meta"
        self._lanes = {LANE_RECALL: p + "q:lane:recall", LANE_NORMAL: p + "q:lane:normal"}
        self._msg_prefix, self._channel = p + "q:m:", p + "q:wake"
        self._topic = f"redis-queue:{id(self)}"
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        self._first_try = asyncio.Event()  # the listener's first subscribe attempt is over, either way

    @classmethod
    async def open(cls, url: str, *, dedup_ttl: float, namespace: str = "larkdou") -> "RedisQueue":
        """Connect to the Redis at `url`; StoreError when it cannot be reached."""
        client, where = await cls._connect(url)
        return cls(client, where, namespace, dedup_ttl)

    async def enqueue(self, msg: Message, dedup_keys: Sequence[str]) -> bool:
        keys = [self._seq, self._lanes[msg.lane]]
        keys += [self._prefix + "q:d:" + k for k in dict.fromkeys(dedup_keys)]
        seq = await self._script(lua.ENQUEUE, keys,
                                 [self._msg_prefix, self._dedup_ms, dump_message(msg), msg.lane, self._channel])
        return bool(seq)

    async def lease(self, lease_seconds: float, wait: float = 0.0, *,
                    recall_only: bool = False) -> Delivery | None:
        if wait > 0:
            await self._listen()
        lanes = 1 if recall_only else 2
        return await long_poll(self._topic, lambda: self._lease_once(lease_seconds, lanes), wait, POLL_SECONDS)

    async def _lease_once(self, lease_seconds: float, lanes: int) -> Delivery | None:
        found = await self._script(lua.LEASE, self._lane_keys(),
                                   [self._msg_prefix, max(1, int(lease_seconds * 1000)), secrets.token_hex(8), lanes])
        if not found:
            return None
        delivery_id, body, attempts = found
        return Delivery(delivery_id, load_message(body), int(attempts))

    def _lane_keys(self) -> list[str]:
        return [self._lanes[LANE_RECALL], self._lanes[LANE_NORMAL], self._leased]

    async def ack(self, delivery_id: str) -> bool:
        seq = delivery_seq(delivery_id)
        if seq is None:
            return False
        done = await self._script(lua.ACK, [self._msg_prefix + str(seq), self._leased], [delivery_id, seq])
        return bool(done)

    async def depth(self) -> dict[str, int]:
        recall, normal, leased = await self._script(lua.DEPTH, self._lane_keys(), [self._msg_prefix])
        return {LANE_RECALL: int(recall), LANE_NORMAL: int(normal), "leased": int(leased)}

    async def get_meta(self, key: str) -> str | None:
        with self._errors():
            return await self._redis.hget(self._meta, key)

    async def set_meta(self, key: str, value: str) -> None:
        with self._errors():
            await self._redis.hset(self._meta, key, value)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await super().close()

    # -- wake-ups ------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Start the pub/sub listener once, and let it try to subscribe before the first look."""
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen_forever(), name="redis-queue-wake")
        if not self._first_try.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._first_try.wait(), CONNECT_TIMEOUT * 2)

    async def _listen_forever(self) -> None:
        while True:
            try:
                async with self._subscription() as pubsub:
                    if not self._listening:
                        log.info("redis store %s: listening for new messages", self._where)
                    self._listening = True
                    self._first_try.set()
                    while True:
                        if await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0):
                            wake.notify(self._topic)
            except (RedisError, OSError) as exc:
                if self._listening or not self._first_try.is_set():
                    log.warning("redis store %s: no wake-up channel (%s); polling every %.1f s until it is back",
                                self._where, exc, POLL_SECONDS)
                self._listening = False
                self._first_try.set()
                await asyncio.sleep(POLL_SECONDS * 2)

    @contextlib.asynccontextmanager
    async def _subscription(self) -> AsyncIterator[PubSub]:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            yield pubsub
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()


class RedisLedger(_RedisStore):
    """The sent-message ledger on Redis, shared by every assistant on it.

    Open with `await RedisLedger.open(url, namespace=…)`; records expire `retention` seconds after they
    were recorded (a week by default).
    """

    def __init__(self, client: Redis, where: str, namespace: str, retention: float) -> None:
        super().__init__(client, where, namespace)
        self._retention = max(1, int(retention))
        p = self._prefix
        self._rec, self._chat, self._src, self._mark = p + "l:m:", p + "l:chat:", p + "l:src:", p + "l:mark:"

    @classmethod
    async def open(cls, url: str, *, namespace: str = "larkdou",
                   retention: float = LEDGER_RETENTION) -> "RedisLedger":
        """Connect to the Redis at `url`; StoreError when it cannot be reached."""
        client, where = await cls._connect(url)
        return cls(client, where, namespace, retention)

    async def record_sent(self, sent: SentMessage) -> None:
        keys = [self._rec + sent.message_id, self._chat + sent.chat_id, self._src + sent.source_msg_id]
        args = [sent.message_id, sent.chat_id, sent.source_msg_id, sent.sent_at_ms or now_ms(), self._retention]
        await self._script(lua.RECORD_SENT, keys, args)

    async def sent_in_chat(self, chat_id: str) -> list[SentMessage]:
        return await self._list(self._chat + chat_id)

    async def sent_for_source(self, source_msg_id: str) -> list[SentMessage]:
        if not source_msg_id:
            return []
        return await self._list(self._src + source_msg_id)

    async def find_sent(self, message_id: str) -> SentMessage | None:
        if not message_id:
            return None
        with self._errors():
            chat_id, source, at = await self._redis.hmget(self._rec + message_id, "chat_id", "source_msg_id",
                                                          "sent_at_ms")
        return None if chat_id is None else SentMessage(message_id, chat_id, source or "", int(at or 0))

    async def _list(self, key: str) -> list[SentMessage]:
        flat = await self._script(lua.LIST_SENT, [key], [self._rec])
        return [SentMessage(flat[i], flat[i + 1], flat[i + 2], int(flat[i + 3])) for i in range(0, len(flat), 4)]

    async def mark_recalled(self, message_id: str) -> None:
        await self._script(lua.MARK_RECALLED, [self._rec + message_id], [self._chat, message_id])

    async def set_recall_mark(self, chat_id: str, ts_ms: int) -> None:
        await self._script(lua.SET_RECALL_MARK, [self._mark + chat_id], [int(ts_ms), self._retention])

    async def recall_mark(self, chat_id: str) -> int:
        with self._errors():
            value = await self._redis.get(self._mark + chat_id)
        return int(value) if value else 0
