"""Lua scripts of the cluster queue: each one is a single atomic step.

    ENQUEUE      SADD enqueued + XADD + backlog counters + cursor, per batch
    NEXT         XAUTOCLAIM idle entries (cursor followed, dead-letter over N), else XREADGROUP >
    OWN_PENDING  XREADGROUP <id> over the caller's own pending entries (after a restart)
    RENEW        XPENDING ownership check + XCLAIM … JUSTID (lease keep-alive)
    RELEASE      ownership check + XCLAIM to "released" with a huge IDLE
    COMPLETE     SADD done (0 = duplicate) + XACK + progress counters
    SWEEP        XAUTOCLAIM JUSTID of idle entries: dead-letter over N, else mark released
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

__all__ = ["Scripts"]

_HELPERS = """
local function field(fields, name)
  if type(fields) ~= 'table' then return nil end
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

local function delivery_count(stream, group, id)
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  if #p == 0 then return 0 end
  return tonumber(p[1][4])
end

local function dead_letter(stream, dead, failed, group, id, fields, n, reason)
  local gid = field(fields, 'g') or ''
  redis.call('XADD', dead, 'MAXLEN', '~', '100000', '*', 'stream', stream, 'id', id, 'g', gid,
             'p', field(fields, 'p') or '', 'deliveries', tostring(n), 'reason', reason)
  redis.call('XACK', stream, group, id)
  if gid ~= '' then redis.call('SADD', failed, gid) end
  return {id, gid, n, field(fields, 'p') or ''}
end

local function add_backlog(backlog, account, fields, sign)
  redis.call('HINCRBY', backlog, account .. ':groups', sign .. '1')
  local f, b = field(fields, 'f') or '0', field(fields, 'b') or '0'
  if f ~= '0' then redis.call('HINCRBY', backlog, account .. ':files', sign .. f) end
  if b ~= '0' then redis.call('HINCRBY', backlog, account .. ':bytes', sign .. b) end
end
"""

# KEYS: enqueued, cursor, backlog, stream_1..stream_k
# ARGV: group, plan_id, position, total, k, account_1..account_k, then (index, gid, payload, files, bytes)*
ENQUEUE = (
    _HELPERS
    + """
local group = ARGV[1]
local k = tonumber(ARGV[5])
for i = 1, k do
  local r = redis.pcall('XGROUP', 'CREATE', KEYS[3 + i], group, '0', 'MKSTREAM')
  if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP') then
    return redis.error_reply(r.err)
  end
  redis.call('HINCRBY', KEYS[3], ARGV[5 + i] .. ':groups', 0)
end
local added = 0
local base = 5 + k
for o = base, #ARGV - 5, 5 do
  local idx, gid = tonumber(ARGV[o + 1]), ARGV[o + 2]
  if redis.call('SADD', KEYS[1], gid) == 1 then
    local fields = {'g', gid, 'p', ARGV[o + 3], 'f', ARGV[o + 4], 'b', ARGV[o + 5]}
    redis.call('XADD', KEYS[3 + idx], '*', unpack(fields))
    add_backlog(KEYS[3], ARGV[5 + idx], fields, '')
    added = added + 1
  end
end
redis.call('HSET', KEYS[2], 'plan', ARGV[2], 'position', ARGV[3], 'total', ARGV[4])
return added
"""
)

# KEYS: dead, failed, backlog, stream_1..stream_k (in order of preference)
# ARGV: group, consumer, min_idle (-1: no reclaim), max_deliveries, count, k, cursor_1..k, account_1..k
# Returns {kind ('claim'|'new'|''), stream index, {{id, fields, count}...}, cursors, dead letters}
NEXT = (
    _HELPERS
    + """
local group, consumer = ARGV[1], ARGV[2]
local min_idle, maxd, count, k = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cursors, dead = {}, {}
for i = 1, k do cursors[i] = ARGV[6 + i] end
if min_idle >= 0 then
  for i = 1, k do
    local s = KEYS[3 + i]
    for round = 1, 20 do
      local r = redis.pcall('XAUTOCLAIM', s, group, consumer, min_idle, cursors[i], 'COUNT', count)
      if type(r) ~= 'table' or r.err then cursors[i] = '0-0'; break end
      cursors[i] = r[1]
      local got = {}
      for _, e in ipairs(r[2]) do
        local n = delivery_count(s, group, e[1])
        if n > maxd then
          local d = dead_letter(s, KEYS[1], KEYS[2], group, e[1], e[2], n, 'max_deliveries')
          table.insert(dead, {i, d[1], d[2], d[3], d[4]})
        else
          table.insert(got, {e[1], e[2], n})
        end
      end
      if #got > 0 then return {'claim', i, got, cursors, dead} end
      if cursors[i] == '0-0' then break end
    end
  end
end
for i = 1, k do
  local s = KEYS[3 + i]
  local r = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', s, '>')
  if type(r) == 'table' and not r.err and #r > 0 then
    local got = {}
    for _, e in ipairs(r[1][2]) do
      add_backlog(KEYS[3], ARGV[6 + k + i], e[2], '-')
      table.insert(got, {e[1], e[2], 1})
    end
    if #got > 0 then return {'new', i, got, cursors, dead} end
  end
end
return {'', 0, {}, cursors, dead}
"""
)

# KEYS: stream, dead, failed   ARGV: group, consumer, count, after_id, max_deliveries
# Returns {last id read ('' when none), {{id, fields, count}...}, dead letters}
OWN_PENDING = (
    _HELPERS
    + """
local s, group = KEYS[1], ARGV[1]
local r = redis.pcall('XREADGROUP', 'GROUP', group, ARGV[2], 'COUNT', ARGV[3], 'STREAMS', s, ARGV[4])
if type(r) ~= 'table' or r.err or #r == 0 then return {'', {}, {}} end
local got, dead, last = {}, {}, ''
for _, e in ipairs(r[1][2]) do
  last = e[1]
  if type(e[2]) ~= 'table' then
    redis.call('XACK', s, group, e[1])
  else
    local n = delivery_count(s, group, e[1])
    if n > tonumber(ARGV[5]) then
      table.insert(dead, dead_letter(s, KEYS[2], KEYS[3], group, e[1], e[2], n, 'max_deliveries'))
    else
      table.insert(got, {e[1], e[2], n})
    end
  end
end
return {last, got, dead}
"""
)

# KEYS: stream   ARGV: group, entry id, consumer   Returns 1 if still owned (lease renewed), else 0
RENEW = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
"""

# KEYS: stream   ARGV: group, entry id, consumer, idle ms, counts_as_attempt (0|1)
RELEASE = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
local n = tonumber(p[1][4])
if ARGV[5] == '0' and n > 0 then n = n - 1 end
redis.call('XCLAIM', KEYS[1], ARGV[1], 'released', 0, ARGV[2], 'IDLE', ARGV[4], 'RETRYCOUNT', n, 'JUSTID')
return 1
"""

# KEYS: done, stream, progress, failed   ARGV: group, entry id, group id, consumer, files, bytes, stolen (0|1)
COMPLETE = """
if redis.call('SADD', KEYS[1], ARGV[3]) == 0 then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  return 0
end
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('SREM', KEYS[4], ARGV[3])
local c = ARGV[4]
redis.call('HINCRBY', KEYS[3], c .. ':files', ARGV[5])
redis.call('HINCRBY', KEYS[3], c .. ':bytes', ARGV[6])
redis.call('HINCRBY', KEYS[3], c .. ':groups', 1)
if ARGV[7] == '1' then redis.call('HINCRBY', KEYS[3], c .. ':steals', 1) end
return 1
"""

# KEYS: stream, dead, failed   ARGV: group, min_idle, cursor, count, max_deliveries, released idle ms
# Returns {next cursor, dead letters}
SWEEP = (
    _HELPERS
    + """
local s, group = KEYS[1], ARGV[1]
local r = redis.pcall('XAUTOCLAIM', s, group, 'released', ARGV[2], ARGV[3], 'COUNT', ARGV[4], 'JUSTID')
if type(r) ~= 'table' or r.err then return {'0-0', {}} end
local dead = {}
for _, id in ipairs(r[2]) do
  local n = delivery_count(s, group, id)
  if n >= tonumber(ARGV[5]) then
    local e = redis.call('XRANGE', s, id, id)
    local fields = {}
    if #e > 0 then fields = e[1][2] end
    table.insert(dead, dead_letter(s, KEYS[2], KEYS[3], group, id, fields, n, 'max_deliveries'))
  else
    redis.call('XCLAIM', s, group, 'released', 0, id, 'IDLE', ARGV[6], 'JUSTID')
  end
end
return {r[1], dead}
"""
)


@dataclass(frozen=True)
class Scripts:
    """The registered scripts (EVALSHA, reloaded automatically after a Redis restart)."""

    enqueue: AsyncScript
    next: AsyncScript
    own_pending: AsyncScript
    renew: AsyncScript
    release: AsyncScript
    complete: AsyncScript
    sweep: AsyncScript

    @classmethod
    def register(cls, redis: Redis) -> Scripts:
        """Register every script with a client."""
        return cls(
            redis.register_script(ENQUEUE),
            redis.register_script(NEXT),
            redis.register_script(OWN_PENDING),
            redis.register_script(RENEW),
            redis.register_script(RELEASE),
            redis.register_script(COMPLETE),
            redis.register_script(SWEEP),
        )
