"""The Lua scripts of the Redis queue: each multi-key change runs as one atomic script.

Queue keys (under the namespace prefix `{ns}:`; the braces make a Redis Cluster hash tag, so every key
of one namespace lives in one slot):
  q:seq               INCR counter: the arrival number of each message
  q:lane:<lane>       sorted set per lane, member = score = arrival number
  q:m:<seq>           hash: body, lane, attempts, delivery (the live delivery id)
  q:leased            sorted set: member = arrival number, score = lease expiry (ms, Redis server clock)
  q:dead              sorted set: the dead-letter list, member = arrival number, score = when it died (ms)
  q:d:<dedup key>     "1" with a TTL
  q:meta              hash for get_meta / set_meta
  q:wake              pub/sub channel: an enqueue publishes, long-polling consumers listen
A message's hash lives until it is acked or dropped; it is in exactly one of the lanes, q:leased or
q:dead at any time. Times come from the Redis server clock, so several hosts agree on when a lease ran
out. The ledger's keys and scripts are in `redis_ledger`.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] recall lane, KEYS[2] normal lane, KEYS[3] leased, KEYS[4] dead
# ARGV[1] message key prefix, ARGV[2] max attempts. Leaves `died` (how many went to q:dead).
_RECLAIM = _NOW + """
local died = 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
for _, seq in ipairs(expired) do
  local h = ARGV[1] .. seq
  local state = redis.call('HMGET', h, 'lane', 'attempts')
  redis.call('ZREM', KEYS[3], seq)
  redis.call('HDEL', h, 'delivery')
  if state[1] and tonumber(state[2] or '0') >= tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[4], now, seq)
    died = died + 1
  elseif state[1] == 'recall' then
    redis.call('ZADD', KEYS[1], seq, seq)
  elseif state[1] then
    redis.call('ZADD', KEYS[2], seq, seq)
  end
end
"""

# A live lease: the message's delivery id is `id` and its lease has not run out. Returns its seq or nil.
_LIVE = """
local function live(prefix, leased, id)
  local seq = string.match(id, '^(%d+)%.')
  if not seq or redis.call('HGET', prefix .. seq, 'delivery') ~= id then
    return nil
  end
  local expiry = redis.call('ZSCORE', leased, seq)
  if not expiry or tonumber(expiry) <= now then
    return nil
  end
  return seq
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

# KEYS as _RECLAIM; ARGV[1], ARGV[2] as _RECLAIM, ARGV[3] lease ms, ARGV[4] random part of the delivery
# ids, ARGV[5] how many lanes to look at (1 = the recall lane only, 2 = recall then normal), ARGV[6] how
# many messages at most. Returns {died, delivery id, body, attempts, delivery id, body, attempts, ...}.
LEASE = _RECLAIM + """
local out = {died}
local want = tonumber(ARGV[6])
for i = 1, tonumber(ARGV[5]) do
  if want <= 0 then
    break
  end
  local heads = redis.call('ZPOPMIN', KEYS[i], want)
  for j = 1, #heads, 2 do
    local seq = heads[j]
    local h = ARGV[1] .. seq
    local attempts = redis.call('HINCRBY', h, 'attempts', 1)
    local delivery = seq .. '.' .. ARGV[4]
    redis.call('HSET', h, 'delivery', delivery)
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), seq)
    table.insert(out, delivery)
    table.insert(out, redis.call('HGET', h, 'body'))
    table.insert(out, attempts)
    want = want - 1
  end
end
return out
"""

# KEYS and ARGV as _RECLAIM. Returns {died, recall, normal, leased, dead}.
DEPTH = _RECLAIM + """
return {died, redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]),
        redis.call('ZCARD', KEYS[4])}
"""

# KEYS[1] leased; ARGV[1] message key prefix, ARGV[2..] delivery ids. Returns one 0/1 per id.
ACK = _NOW + _LIVE + """
local out = {}
for i = 2, #ARGV do
  local seq = live(ARGV[1], KEYS[1], ARGV[i])
  if seq then
    redis.call('ZREM', KEYS[1], seq)
    redis.call('DEL', ARGV[1] .. seq)
  end
  table.insert(out, seq and 1 or 0)
end
return out
"""

# KEYS[1] leased; ARGV[1] message key prefix, ARGV[2] extension ms, ARGV[3..] delivery ids.
# Returns one 0/1 per id.
EXTEND = _NOW + _LIVE + """
local out = {}
for i = 3, #ARGV do
  local seq = live(ARGV[1], KEYS[1], ARGV[i])
  if seq then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), seq)
  end
  table.insert(out, seq and 1 or 0)
end
return out
"""

# KEYS and ARGV[1..2] as _RECLAIM, ARGV[3] how many at most.
# Returns {died, seq, body, attempts, died_at_ms, ...}, oldest death first.
DEAD_LIST = _RECLAIM + """
local out = {died}
local dead = redis.call('ZRANGE', KEYS[4], 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
for i = 1, #dead, 2 do
  local rec = redis.call('HMGET', ARGV[1] .. dead[i], 'body', 'attempts')
  if rec[1] then
    table.insert(out, dead[i])
    table.insert(out, rec[1])
    table.insert(out, rec[2])
    table.insert(out, dead[i + 1])
  end
end
return out
"""

# KEYS[1] recall lane, KEYS[2] normal lane, KEYS[3] dead; ARGV[1] message key prefix, ARGV[2] wake
# channel, ARGV[3..] seqs. Puts each dead letter back into its lane with no attempts; returns those found.
RETRY_DEAD = """
local out = {}
for i = 3, #ARGV do
  local seq = ARGV[i]
  if redis.call('ZREM', KEYS[3], seq) == 1 then
    local h = ARGV[1] .. seq
    redis.call('HSET', h, 'attempts', 0)
    if redis.call('HGET', h, 'lane') == 'recall' then
      redis.call('ZADD', KEYS[1], seq, seq)
    else
      redis.call('ZADD', KEYS[2], seq, seq)
    end
    table.insert(out, seq)
  end
end
if #out > 0 then
  redis.call('PUBLISH', ARGV[2], 'retry')
end
return out
"""

# KEYS[1] dead; ARGV[1] message key prefix, ARGV[2..] seqs. Deletes each dead letter; returns those found.
DROP_DEAD = """
local out = {}
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('DEL', ARGV[1] .. ARGV[i])
    table.insert(out, ARGV[i])
  end
end
return out
"""
