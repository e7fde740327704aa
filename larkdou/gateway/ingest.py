"""The one entry point for received events: dedup, normalise, enqueue.

The webhook (`POST /event`) and the long connection both hand verified payloads to `Ingestor`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from larkdou.config import Settings
from larkdou.lark.events import MESSAGE_RECEIVE, Envelope, classify, to_message
from larkdou.store import open_queue
from larkdou.store.base import Queue

log = logging.getLogger("larkdou.gateway")

ENQUEUED, DUPLICATE, IGNORED = "enqueued", "duplicate", "ignored"
BOT_OPEN_ID_META = "bot_open_id"


async def open_gateway_queue(settings: Settings) -> Queue:
    """The gateway's queue (`[gateway] store`, dedup for `[gateway] dedup_hours`, dead letters after
    `[gateway] max_attempts` deliveries)."""
    return await open_queue(settings.gateway_store_url, dedup_ttl=settings.gateway.dedup_hours * 3600,
                            max_attempts=settings.gateway.max_attempts)


class Ingestor:
    """Turns verified envelopes into queued `Message`s, exactly once per message_id / event_id."""

    def __init__(self, settings: Settings, queue: Queue, *, meta_refresh: float = 30.0):
        self.settings = settings
        self.queue = queue
        self._bot_open_id = settings.lark_group.bot_open_id
        self._meta_refresh = meta_refresh
        self._meta_checked = 0.0
        self._meta_lock = asyncio.Lock()

    async def bot_open_id(self) -> str:
        """The configured open_id, else the one the assistant stored (re-read every 30 s)."""
        if self.settings.lark_group.bot_open_id:
            return self._bot_open_id
        now = time.monotonic()
        if now - self._meta_checked >= self._meta_refresh:
            async with self._meta_lock:
                if now - self._meta_checked >= self._meta_refresh:
                    self._bot_open_id = (await self.queue.get_meta(BOT_OPEN_ID_META)) or self._bot_open_id
                    self._meta_checked = time.monotonic()
        return self._bot_open_id

    def recall_keywords(self, chat_id: str) -> tuple[str, ...]:
        """The recall keywords of a chat (its [[groups]] table, else [frontend.lark_group])."""
        return self.settings.for_chat(chat_id).recall_keywords

    async def ingest_envelope(self, env: Envelope) -> str:
        """Enqueue a verified envelope. Returns ENQUEUED, DUPLICATE or IGNORED.
        Raises EventError for a malformed message event and StoreError when the store fails."""
        if env.event_type != MESSAGE_RECEIVE:
            return IGNORED
        bot = await self.bot_open_id()
        msg = to_message(env, bot_open_id=bot, recall_keywords=self.recall_keywords)
        if bot and msg.user_id == bot:
            return IGNORED  # the bot's own message
        keys = [f"msg:{msg.msg_id}"] + ([f"evt:{msg.event_id}"] if msg.event_id else [])
        if await self.queue.enqueue(msg, keys):
            log.info("enqueued chat_id=%s message_id=%s event_id=%s lane=%s",
                     msg.group_id, msg.msg_id, msg.event_id, msg.lane)
            return ENQUEUED
        log.info("duplicate chat_id=%s message_id=%s event_id=%s", msg.group_id, msg.msg_id, msg.event_id)
        return DUPLICATE

    async def ingest(self, payload: dict[str, Any]) -> str:
        """Enqueue an already verified plaintext event payload (e.g. from the long connection)."""
        env, _token = classify(payload)  # the long connection authenticates at connect time
        return await self.ingest_envelope(env)
