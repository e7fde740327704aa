"""The Lua scripts of the Redis store: each multi-key change runs as one atomic script.

Queue keys (under the namespace prefix `{ns}:`; the braces make a Redis Cluster hash tag, so every key
of one namespace lives in one slot):
  q:seq               INCR counter: the arrival number of each message
  q:lane:<lane>       sorted set per lane, member = score = arrival number
  q:m:<seq>           hash: body, lane, attempts, delivery (the live delivery id)
  q:leased            sorted set: member = arrival number, score = lease expiry (ms, Redis server clock)
  q:d:<dedup key>     "1" with a TTL
  q:meta              hash for get_meta / set_meta
  q:wake              pub/sub channel: an enqueue publishes, long-polling consumers listen
Ledger keys:
  l:m:<message_id>    hash: chat_id, source_msg_id, sent_at_ms, recalled (expires after the retention)
  l:chat:<chat_id>    sorted set of not-yet-recalled bot message ids by sent_at_ms
  l:src:<source id>   sorted set of bot message ids sent in answer to that message
  l:mark:<chat_id>    the chat's recall mark (ms)
Times come from the Redis server clock, so several hosts agree on when a lease ran out.
"""

from __future__ import annotations

# KEYS[1] recall lane, KEYS[2] normal lane, KEYS[3] leased; ARGV[1] message key prefix
_RECLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
for _, seq in ipairs(expired) do
  local h = ARGV[1] .. seq
  local lane = redis.call('HGET', h, 'lane')
  redis.call('ZREM', KEYS[3], seq)
  redis.call('HDEL', h, 'delivery')
  if lane == 'recall' then
    redis.call('ZADD', KEYS[1], seq, seq)
  elseif lane then
    redis.call('ZADD', KEYS[2], seq, seq)
  end
end
"""

# KEYS[1] seq counter, KEYS[2] lane, KEYS[3..] dedup keys
# ARGV[1] message key prefix, ARGV[2] dedup ttl ms, ARGV[3] body, ARGV[4] lane name, ARGV[5] wake channel
ENQUEUE = """
if #KEYS > 2 and redis.call('EXISTS', unpack(KEYS, 3)) > 0 then
  return 0
end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], '1', 'PX', ARGV[2])
end
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', ARGV[1] .. seq, 'body', ARGV[3], 'lane', ARGV[4], 'attempts', 0)
redis.call('ZADD', KEYS[2], seq, seq)
redis.call('PUBLISH', ARGV[5], ARGV[4])
return seq
"""

# KEYS as _RECLAIM; ARGV[1] message key prefix, ARGV[2] lease ms, ARGV[3] random part of the delivery id,
# ARGV[4] how many lanes to look at: 1 = the recall lane only, 2 = recall then normal
LEASE = _RECLAIM + """
for i = 1, tonumber(ARGV[4]) do
  local head = redis.call('ZPOPMIN', KEYS[i])
  if head[1] then
    local seq = head[1]
    local h = ARGV[1] .. seq
    local attempts = redis.call('HINCRBY', h, 'attempts', 1)
    local delivery = seq .. '.' .. ARGV[3]
    redis.call('HSET', h, 'delivery', delivery)
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), seq)
    return {delivery, redis.call('HGET', h, 'body'), attempts}
  end
end
return false
"""

# KEYS as _RECLAIM; ARGV[1] message key prefix
DEPTH = _RECLAIM + """
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3])}
"""

# KEYS[1] message hash, KEYS[2] leased; ARGV[1] delivery id, ARGV[2] seq
ACK = """
if redis.call('HGET', KEYS[1], 'delivery') ~= ARGV[1] then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[2])
if not expiry or tonumber(expiry) <= now then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS[1] record hash, KEYS[2] chat set, KEYS[3] source set
# ARGV[1] message id, ARGV[2] chat id, ARGV[3] source id, ARGV[4] sent_at_ms, ARGV[5] retention s
RECORD_SENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'chat_id', ARGV[2], 'source_msg_id', ARGV[3], 'sent_at_ms', ARGV[4], 'recalled', 0)
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
# Returns {id, chat_id, source_msg_id, sent_at_ms, ...}, oldest first; drops ids whose record expired.
LIST_SENT = """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local rec = redis.call('HMGET', ARGV[1] .. id, 'chat_id', 'source_msg_id', 'sent_at_ms')
  if rec[1] then
    table.insert(out, id)
    table.insert(out, rec[1])
    table.insert(out, rec[2])
    table.insert(out, rec[3])
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
