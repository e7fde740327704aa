"""The Redis store: queue and ledger shared by any number of gateways and assistants on one Redis.

Each change is one Lua script (see `redis_scripts` for the keys), so it is atomic and one round trip;
a batch (lease many, ack many, extend) is one script too. The ledger is in `redis_ledger`.
Consumers that long-poll are woken through pub/sub and also re-check every `POLL_SECONDS`. Connection
failures surface quickly as `StoreError` (1 s connect timeout, one retry), never as a driver exception.
See `larkdou.store.base` for the contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from larkdou.store.base import DeadLetter, Delivery
from larkdou.store.common import (DEFAULT_MAX_ATTEMPTS, SingleForms, dead_seqs, delivery_seq, dump_message,
                                  load_message, long_poll, new_delivery_token, report_dead)

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # long-poll re-check when pub/sub is silent: leases that ran out, a lost subscription
CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 5.0
MAX_CONNECTIONS = 64  # per process; more concurrent callers wait for a free connection
DEAD_BATCH = 500  # dead letters moved per script call


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


class RedisBase:
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


class RedisQueue(SingleForms, RedisBase):
    """The message queue on Redis. Open with `await RedisQueue.open(url, dedup_ttl=…, namespace=…)`."""

    def __init__(self, client: Redis, where: str, namespace: str, dedup_ttl: float, max_attempts: int) -> None:
        super().__init__(client, where, namespace)
        self._dedup_ms = max(1, int(dedup_ttl * 1000))
        self._max_attempts = max_attempts
        p = self._prefix
        self._seq, self._leased, self._meta, self._dead = p + "q:seq", p + "q:leased", p + "q:meta", p + "q:dead"
        self._lanes = {LANE_RECALL: p + "q:lane:recall", LANE_NORMAL: p + "q:lane:normal"}
        self._msg_prefix, self._channel = p + "q:m:", p + "q:wake"
        self._topic = f"redis-queue:{id(self)}"
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        self._first_try = asyncio.Event()  # the listener's first subscribe attempt is over, either way

    @classmethod
    async def open(cls, url: str, *, dedup_ttl: float, namespace: str = "larkdou",
                   max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> "RedisQueue":
        """Connect to the Redis at `url`; StoreError when it cannot be reached."""
        client, where = await cls._connect(url)
        return cls(client, where, namespace, dedup_ttl, max_attempts)

    async def enqueue(self, msg: Message, dedup_keys: Sequence[str]) -> bool:
        keys = [self._seq, self._lanes[msg.lane]]
        keys += [self._prefix + "q:d:" + k for k in dict.fromkeys(dedup_keys)]
        seq = await self._script(lua.ENQUEUE, keys,
                                 [self._msg_prefix, self._dedup_ms, dump_message(msg), msg.lane, self._channel])
        return bool(seq)

    async def lease_many(self, n: int, lease_seconds: float, wait: float = 0.0, *,
                         recall_only: bool = False, abandoned: asyncio.Event | None = None) -> list[Delivery]:
        if wait > 0:
            await self._listen()
        lanes = 1 if recall_only else 2
        got = await long_poll(self._topic, lambda: self._lease_once(max(1, n), lease_seconds, lanes), wait,
                              POLL_SECONDS, abandoned)
        return got or []

    async def _lease_once(self, n: int, lease_seconds: float, lanes: int) -> list[Delivery] | None:
        found = await self._script(lua.LEASE, self._state_keys(),
                                   [*self._reclaim_args(), max(1, int(lease_seconds * 1000)), new_delivery_token(),
                                    lanes, n])
        report_dead(int(found[0]))
        return [Delivery(found[i], load_message(found[i + 1]), int(found[i + 2]))
                for i in range(1, len(found), 3)] or None

    def _state_keys(self) -> list[str]:
        return [self._lanes[LANE_RECALL], self._lanes[LANE_NORMAL], self._leased, self._dead]

    def _reclaim_args(self) -> list[str | int]:
        return [self._msg_prefix, self._max_attempts]

    async def ack_many(self, delivery_ids: Sequence[str]) -> list[bool]:
        return await self._per_lease(lua.ACK, delivery_ids, [])

    async def extend(self, delivery_ids: Sequence[str], seconds: float) -> list[bool]:
        return await self._per_lease(lua.EXTEND, delivery_ids, [max(1, int(seconds * 1000)) if seconds > 0 else 0])

    async def _per_lease(self, script: str, delivery_ids: Sequence[str], args: list[int]) -> list[bool]:
        """Run `script` on the well-formed ids among `delivery_ids`; one bool per id (False when malformed)."""
        valid = [d for d in delivery_ids if delivery_seq(d) is not None]
        done = iter(await self._script(script, [self._leased], [self._msg_prefix, *args, *valid]) if valid else [])
        return [delivery_seq(d) is not None and bool(next(done)) for d in delivery_ids]

    async def depth(self) -> dict[str, int]:
        died, recall, normal, leased, _ = await self._script(lua.DEPTH, self._state_keys(), self._reclaim_args())
        report_dead(int(died))
        return {LANE_RECALL: int(recall), LANE_NORMAL: int(normal), "leased": int(leased)}

    # ---- the dead-letter list -----------------------------------------------------------------
    async def dead_count(self) -> int:
        died, *_, dead = await self._script(lua.DEPTH, self._state_keys(), self._reclaim_args())
        report_dead(int(died))
        return int(dead)

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        if limit <= 0:
            return []
        flat = await self._script(lua.DEAD_LIST, self._state_keys(), [*self._reclaim_args(), limit])
        report_dead(int(flat[0]))
        return [DeadLetter(flat[i], load_message(flat[i + 1]), int(flat[i + 2] or 0), int(float(flat[i + 3])))
                for i in range(1, len(flat), 4)]

    async def retry_dead(self, ids: Sequence[str] | None) -> list[str]:
        keys = [self._lanes[LANE_RECALL], self._lanes[LANE_NORMAL], self._dead]
        return await self._dead_move(lua.RETRY_DEAD, keys, [self._msg_prefix, self._channel], ids)

    async def drop_dead(self, ids: Sequence[str] | None) -> list[str]:
        return await self._dead_move(lua.DROP_DEAD, [self._dead], [self._msg_prefix], ids)

    async def _dead_move(self, script: str, keys: list[str], args: list[str], ids: Sequence[str] | None) -> list[str]:
        """Run `script` on the named dead letters (all of them with None), a bounded batch per call."""
        if ids is None:
            with self._errors():
                seqs: list[int | str] = list(await self._redis.zrange(self._dead, 0, -1))
        else:
            seqs = list(dead_seqs(ids))
        found: list[str] = []
        for start in range(0, len(seqs), DEAD_BATCH):
            found += await self._script(script, keys, [*args, *seqs[start:start + DEAD_BATCH]])
        return found

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
