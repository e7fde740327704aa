"""The context store on Redis, beside the ledger (same server and namespace).

Keys, under the namespace prefix `{ns}:` (one Redis Cluster slot, like the queue and the ledger):
  c:e:<message_id>   hash: chat, role, text, sender, thread, parent, sources (JSON), at (ms)
  c:chat:<chat_id>   sorted set of the chat's entries by `at` (the newest `keep` are kept)
  c:thr:<thread>     sorted set of a thread's entries by `at`
Each entry expires `ttl` seconds after it was recorded; a set lives as long as its newest entry,
and members whose entry expired are dropped when met. Every operation is one Lua script.
See `larkdou.store.context` for the contract.
"""

from __future__ import annotations

from typing import Any, Sequence

from redis.asyncio import Redis

from larkdou.message import Message
from larkdou.store.context import DEFAULT_KEEP, DEFAULT_TTL, ContextEntry, ContextQuery, select
from larkdou.store.redis import RedisBase

_FIELDS = "'chat', 'role', 'text', 'sender', 'thread', 'parent', 'sources', 'at'"

# KEYS[1] entry hash, KEYS[2] chat set, KEYS[3] thread set
# ARGV[1] message id, ARGV[2..9] the fields in _FIELDS order, ARGV[10] ttl s, ARGV[11] keep, ARGV[12] key prefix
RECORD = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'chat', ARGV[2], 'role', ARGV[3], 'text', ARGV[4], 'sender', ARGV[5],
           'thread', ARGV[6], 'parent', ARGV[7], 'sources', ARGV[8], 'at', ARGV[9])
redis.call('EXPIRE', KEYS[1], ARGV[10])
redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[10])
if ARGV[6] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[9], ARGV[1])
  redis.call('EXPIRE', KEYS[3], ARGV[10])
end
local keep = tonumber(ARGV[11])
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -(keep + 1))) do
  local h = ARGV[12] .. 'e:' .. id
  local thread = redis.call('HGET', h, 'thread')
  if thread and thread ~= '' then
    redis.call('ZREM', ARGV[12] .. 'thr:' .. thread, id)
  end
  redis.call('DEL', h)
end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(keep + 1))
return 1
"""

# KEYS[1] the chat set (it names the namespace's slot: every key used is in it)
# ARGV[1] key prefix, ARGV[2] message id, ARGV[3] chat id, ARGV[4] parent id, ARGV[5] root id, ARGV[6] limit,
# ARGV[7] before ms, ARGV[8] recent since ms (-1: none), ARGV[9..] thread keys
# Returns {chain, thread, recent}, each a list of {id, <_FIELDS>}.
CONTEXT = """
local P = ARGV[1]
local limit = tonumber(ARGV[6])
local function get(id)
  local v = redis.call('HMGET', P .. 'e:' .. id, """ + _FIELDS + """)
  if not v[1] then
    return nil
  end
  table.insert(v, 1, id)
  return v
end
local chain = {}
local seen = {[ARGV[2]] = true}
local cur = ARGV[4]
while cur ~= '' and not seen[cur] and #chain < limit do
  seen[cur] = true
  local v = get(cur)
  if not v then
    break
  end
  table.insert(chain, v)
  cur = v[7]
end
if ARGV[5] ~= '' and not seen[ARGV[5]] then
  local v = get(ARGV[5])
  if v then
    table.insert(chain, v)
  end
end
local function newest(key, since, out)
  for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', key, ARGV[7], since, 'LIMIT', 0, limit + 1)) do
    local v = get(id)
    if v then
      table.insert(out, v)
    else
      redis.call('ZREM', key, id)
    end
  end
  return out
end
local thread = {}
for i = 9, #ARGV do
  newest(P .. 'thr:' .. ARGV[i], '-inf', thread)
end
local recent = {}
if tonumber(ARGV[8]) >= 0 then
  newest(KEYS[1], ARGV[8], recent)
end
return {chain, thread, recent}
"""

# KEYS[1] entry hash; ARGV[1] message id
ENTRY = """
local v = redis.call('HMGET', KEYS[1], """ + _FIELDS + """)
if not v[1] then
  return false
end
table.insert(v, 1, ARGV[1])
return v
"""

# KEYS[1] the chat set; ARGV[1] key prefix, ARGV[2] chat id,
# ARGV[3] "all" (the chat's entries) or "ids" (ARGV[4..]),
# ARGV[4] the role to drop ("" = every role) when "all"
# Deletes the chosen entries of that chat (with their set memberships); returns how many.
DROP = """
local P, chat = ARGV[1], ARGV[2]
local chat_key = KEYS[1]
local ids, role = {}, 'bot'
if ARGV[3] == 'all' then
  ids = redis.call('ZRANGE', chat_key, 0, -1)
  role = ARGV[4]
else
  for i = 4, #ARGV do
    table.insert(ids, ARGV[i])
  end
end
local n = 0
for _, id in ipairs(ids) do
  local h = P .. 'e:' .. id
  local v = redis.call('HMGET', h, 'chat', 'role', 'thread')
  if v[1] == chat and (role == '' or v[2] == role) then
    if v[3] and v[3] ~= '' then
      redis.call('ZREM', P .. 'thr:' .. v[3], id)
    end
    redis.call('DEL', h)
    redis.call('ZREM', chat_key, id)
    n = n + 1
  end
end
if ARGV[3] == 'all' and role == '' then
  redis.call('DEL', chat_key)
end
return n
"""


def _entry(row: list[Any]) -> ContextEntry:
    message_id, chat, role, text, sender, thread, parent, sources, at = row
    return ContextEntry(message_id, chat, role, text, sender or "", thread or "", parent or "",
                        ContextEntry.load_sources(sources), int(at or 0))


class RedisContext(RedisBase):
    """Open with `await RedisContext.open(url, keep=…, ttl=…, namespace=…)`."""

    def __init__(self, client: Redis, where: str, namespace: str, keep: int, ttl: float) -> None:
        super().__init__(client, where, namespace)
        self._keep = keep
        self._ttl = max(1, int(ttl))
        self._c = self._prefix + "c:"

    @classmethod
    async def open(cls, url: str, *, keep: int = DEFAULT_KEEP, ttl: float = DEFAULT_TTL,
                   namespace: str = "larkdou") -> "RedisContext":
        """Connect to the Redis at `url`; StoreError when it cannot be reached."""
        client, where = await cls._connect(url)
        return cls(client, where, namespace, keep, ttl)

    async def record(self, entry: ContextEntry) -> None:
        e = entry.bounded()
        keys = [self._c + "e:" + e.message_id, self._c + "chat:" + e.chat_id, self._c + "thr:" + e.thread]
        args = [e.message_id, e.chat_id, e.role, e.text, e.sender, e.thread, e.parent_id, e.dump_sources(), e.at_ms,
                self._ttl, self._keep, self._c]
        await self._script(RECORD, keys, args)

    async def context(self, msg: Message, limit: int, *, recent: bool | None = None) -> list[ContextEntry]:
        q = ContextQuery.of(msg, limit, recent)
        if q.limit == 0:
            return []
        args = [self._c, q.message_id, q.chat_id, q.parent_id, q.root_id, q.limit, q.before_ms, q.recent_since_ms,
                *q.threads]
        chain, thread, recent_rows = await self._script(CONTEXT, [self._c + "chat:" + q.chat_id], args)
        return select(q, [_entry(r) for r in chain], [_entry(r) for r in thread], [_entry(r) for r in recent_rows])

    async def entry(self, message_id: str) -> ContextEntry | None:
        row = await self._script(ENTRY, [self._c + "e:" + message_id], [message_id])
        return _entry(row) if row else None

    async def drop_bot(self, chat_id: str, message_ids: Sequence[str] | None = None) -> int:
        chat = [self._c + "chat:" + chat_id]
        if message_ids is None:
            return int(await self._script(DROP, chat, [self._c, chat_id, "all", "bot"]))
        return int(await self._script(DROP, chat, [self._c, chat_id, "ids", *dict.fromkeys(message_ids)]))

    async def forget_chat(self, chat_id: str) -> int:
        return int(await self._script(DROP, [self._c + "chat:" + chat_id], [self._c, chat_id, "all", ""]))
