"""The sent-message ledger on Redis, shared by every assistant on it. See `larkdou.store.base`.

Keys (under the namespace prefix `{ns}:`, one Redis Cluster slot):
  l:m:<message_id>    hash: chat_id, source_msg_id, sent_at_ms, recalled, part (expires after the retention)
  l:chat:<chat_id>    sorted set of not-yet-recalled bot message ids by sent_at_ms
  l:src:<source id>   sorted set of bot message ids sent in answer to that message
  l:mark:<chat_id>    the chat's recall mark (ms), expires after the retention
  l:ans:<source id>   the plan of an answer still being sent, expires after the retention
Every key has a TTL; a chat's set is refreshed by each send, so each send also drops up to two of its
oldest ids whose record has expired (bounded in proportion to what is added).
"""

from __future__ import annotations

from redis.asyncio import Redis

from larkdou.store.base import SentMessage
from larkdou.store.common import LEDGER_RETENTION, SWEEP_PER_INSERT, now_ms
from larkdou.store.redis import RedisBase

# KEYS[1] record hash, KEYS[2] chat set, KEYS[3] source set
# ARGV[1] message id, ARGV[2] chat id, ARGV[3] source id, ARGV[4] sent_at_ms, ARGV[5] retention s,
# ARGV[6] record key prefix, ARGV[7] how many expired ids to drop from the chat set at most, ARGV[8] part
RECORD_SENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[7]) - 1)) do
  if redis.call('EXISTS', ARGV[6] .. old) == 0 then
    redis.call('ZREM', KEYS[2], old)
  end
end
redis.call('HSET', KEYS[1], 'chat_id', ARGV[2], 'source_msg_id', ARGV[3], 'sent_at_ms', ARGV[4], 'recalled', 0,
           'part', ARGV[8])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[5])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return 1
"""

# KEYS[1] a sorted set of bot message ids; ARGV[1] record key prefix
# Returns {id, chat_id, source_msg_id, sent_at_ms, part, ...}, oldest first; drops ids whose record expired.
LIST_SENT = """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local rec = redis.call('HMGET', ARGV[1] .. id, 'chat_id', 'source_msg_id', 'sent_at_ms', 'part')
  if rec[1] then
    table.insert(out, id)
    table.insert(out, rec[1])
    table.insert(out, rec[2])
    table.insert(out, rec[3])
    table.insert(out, rec[4] or '0')
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

# KEYS[1] record hash; ARGV[1] chat set prefix, ARGV[2] message id
MARK_RECALLED = """
local chat = redis.call('HGET', KEYS[1], 'chat_id')
if chat then
  redis.call('ZREM', ARGV[1] .. chat, ARGV[2])
  redis.call('HSET', KEYS[1], 'recalled', 1)
end
return 0
"""

# KEYS[1] mark key; ARGV[1] ts_ms, ARGV[2] retention s
SET_RECALL_MARK = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class RedisLedger(RedisBase):
    """The sent-message ledger on Redis, shared by every assistant on it.

    Open with `await RedisLedger.open(url, namespace=…)`; records expire `retention` seconds after they
    were recorded (a week by default).
    """

    def __init__(self, client: Redis, where: str, namespace: str, retention: float) -> None:
        super().__init__(client, where, namespace)
        self._retention = max(1, int(retention))
        p = self._prefix
        self._rec, self._chat, self._src, self._mark = p + "l:m:", p + "l:chat:", p + "l:src:", p + "l:mark:"
        self._answer = p + "l:ans:"

    @classmethod
    async def open(cls, url: str, *, namespace: str = "larkdou",
                   retention: float = LEDGER_RETENTION) -> "RedisLedger":
        """Connect to the Redis at `url`; StoreError when it cannot be reached."""
        client, where = await cls._connect(url)
        return cls(client, where, namespace, retention)

    async def record_sent(self, sent: SentMessage) -> None:
        keys = [self._rec + sent.message_id, self._chat + sent.chat_id, self._src + sent.source_msg_id]
        args = [sent.message_id, sent.chat_id, sent.source_msg_id, sent.sent_at_ms or now_ms(), self._retention,
                self._rec, SWEEP_PER_INSERT, sent.part]
        await self._script(RECORD_SENT, keys, args)

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
            chat_id, source, at, part = await self._redis.hmget(self._rec + message_id, "chat_id", "source_msg_id",
                                                                "sent_at_ms", "part")
        return None if chat_id is None else SentMessage(message_id, chat_id, source or "", int(at or 0), int(part or 0))

    async def _list(self, key: str) -> list[SentMessage]:
        flat = await self._script(LIST_SENT, [key], [self._rec])
        return [SentMessage(flat[i], flat[i + 1], flat[i + 2], int(flat[i + 3]), int(flat[i + 4]))
                for i in range(0, len(flat), 5)]

    async def mark_recalled(self, message_id: str) -> None:
        await self._script(MARK_RECALLED, [self._rec + message_id], [self._chat, message_id])

    async def set_recall_mark(self, chat_id: str, ts_ms: int) -> None:
        await self._script(SET_RECALL_MARK, [self._mark + chat_id], [int(ts_ms), self._retention])

    async def recall_mark(self, chat_id: str) -> int:
        with self._errors():
            value = await self._redis.get(self._mark + chat_id)
        return int(value) if value else 0

    async def begin_answer(self, source_msg_id: str, plan: str) -> None:
        with self._errors():
            await self._redis.set(self._answer + source_msg_id, plan, ex=self._retention)

    async def answer_plan(self, source_msg_id: str) -> str | None:
        with self._errors():
            value = await self._redis.get(self._answer + source_msg_id)
        return None if value is None else str(value)

    async def finish_answer(self, source_msg_id: str) -> None:
        with self._errors():
            await self._redis.delete(self._answer + source_msg_id)
