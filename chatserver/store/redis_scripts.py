"""The Lua scripts behind every atomic step of the Redis store.

Each script is one step that must not interleave with another process's: Redis runs a
script to completion before anything else. Keys are built inside the scripts from the
prefix (ARGV[1]), so the store needs a single Redis (or a primary with replicas), not a
Redis Cluster. Times are POSIX seconds as decimal strings.
"""

from __future__ import annotations

# Shared helpers, prepended to the scripts that need them.
_HELPERS = r"""
local P = ARGV[1]

local function chat_key(id) return P .. 'chat:' .. id end

local function online(username, now)
  local processes = P .. 'processes'
  for _, conn in ipairs(redis.call('SMEMBERS', P .. 'counselor:' .. username .. ':conns')) do
    local pid = string.match(conn, '^([^|]*)|')
    local alive = redis.call('ZSCORE', processes, pid)
    -- No heartbeat yet means just started; an expired one means dead but not yet swept.
    if not alive or tonumber(alive) > now then return true end
  end
  return false
end

-- A counselor whose console confirms gets the chat OFFERED; otherwise it is answered now.
-- Returns 1 when this is the contact's first answer.
local function offer_or_answer(key, ck)
  if redis.call('HGET', ck, 'confirms') == '1' then
    redis.call('HSET', key, 'state', 'offered')
    return 0
  end
  local first = redis.call('HGET', key, 'answered') ~= '1'
  redis.call('HSET', key, 'state', 'chatting', 'answered', 1)
  return first and 1 or 0
end

-- Back to the front of a queue: before every new request, earliest request first.
local function put_back_in_front(id, helpline, now, front_offset)
  local key = chat_key(id)
  redis.call('HSET', key, 'state', 'waiting', 'helpline', helpline, 'counselor', '',
    'counselor_name', '', 'assigned_at', '', 'enqueued_at', now)
  redis.call('ZADD', P .. 'queue:' .. helpline,
    tonumber(redis.call('HGET', key, 'ticket')) - front_offset, id)
end

-- End one chat; returns its fields as they were, or false if it was already over.
local function end_chat(id, reason, now, ended_ttl)
  local key = chat_key(id)
  local state = redis.call('HGET', key, 'state')
  if not state or state == 'ended' then return false end
  local before = redis.call('HGETALL', key)
  if state == 'waiting' then
    redis.call('ZREM', P .. 'queue:' .. redis.call('HGET', key, 'helpline'), id)
  else
    local counselor = redis.call('HGET', key, 'counselor')
    if counselor and counselor ~= '' then
      local ck = P .. 'counselor:' .. counselor
      if redis.call('SREM', ck .. ':chats', id) == 1 then
        redis.call('HSET', ck, 'idle_since', now)
      end
    end
  end
  local token_hash = redis.call('HGET', key, 'token_hash')
  -- Crypto-shredding: the key and the log go together, with everything else of the chat.
  redis.call('DEL', key, key .. ':log', key .. ':key', key .. ':ids', key .. ':conns',
    key .. ':note', P .. 'token:' .. token_hash)
  redis.call('SET', P .. 'ended:' .. token_hash, reason, 'EX', ended_ttl)
  return before
end
"""

# ARGV: prefix, chat_id, max_queue, ttl, wrapped_key, then field/value pairs of the chat.
# Returns {position, ticket} or -1 when the queue is full.
CREATE_CHAT = (
    _HELPERS
    + r"""
local id = ARGV[2]
local max_queue = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
local record = {}
for i = 1, #fields, 2 do record[fields[i]] = fields[i + 1] end
local queue = P .. 'queue:' .. record['helpline']
if redis.call('ZCARD', queue) >= max_queue then return -1 end
local ticket = redis.call('INCR', P .. 'tickets')
local key = chat_key(id)
redis.call('HSET', key, unpack(fields))
redis.call('HSET', key, 'ticket', ticket, 'last_seq', 0, 'answered', 0)
redis.call('EXPIRE', key, ttl)
redis.call('SET', key .. ':key', ARGV[5], 'EX', ttl)
redis.call('SET', P .. 'token:' .. record['token_hash'], id, 'EX', ttl)
redis.call('ZADD', queue, ticket, id)
return {redis.call('ZRANK', queue, id) + 1, ticket}
"""
)

# ARGV: prefix, helpline, max_chats, now, ttl, chat_id ('' = the first waiting), username
# ('' = whoever core.assignment would choose).
# Returns {chat_id, username, first_answer, state} or nil.
ASSIGN_NEXT = (
    _HELPERS
    + r"""
local queue = P .. 'queue:' .. ARGV[2]
local first = redis.call('ZRANGE', queue, 0, 0)
if ARGV[6] ~= '' then
  if not redis.call('ZSCORE', queue, ARGV[6]) then return false end
  first = {ARGV[6]}
end
if #first == 0 then return false end
local max_chats = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local best, best_n, best_idle
for _, u in ipairs(redis.call('SMEMBERS', P .. 'helpline:' .. ARGV[2] .. ':counselors')) do
  local ck = P .. 'counselor:' .. u
  if (ARGV[7] == '' or ARGV[7] == u) and redis.call('HGET', ck, 'available') == '1' then
    local n = redis.call('SCARD', ck .. ':chats')
    if n < max_chats and online(u, now) then
      local idle = tonumber(redis.call('HGET', ck, 'idle_since') or '') or -1e18
      if best == nil or n < best_n or (n == best_n and (idle < best_idle
          or (idle == best_idle and u < best))) then
        best, best_n, best_idle = u, n, idle
      end
    end
  end
end
if best == nil then return false end
local id = first[1]
local key = chat_key(id)
local ck = P .. 'counselor:' .. best
redis.call('ZREM', queue, id)
redis.call('HSET', key, 'counselor', best,
  'counselor_name', redis.call('HGET', ck, 'display_name') or best, 'assigned_at', ARGV[4])
local first_answer = offer_or_answer(key, ck)
redis.call('SADD', ck .. ':chats', id)
redis.call('HSET', ck, 'idle_since', ARGV[4])
local ttl = tonumber(ARGV[5])
redis.call('EXPIRE', key, ttl)
redis.call('EXPIRE', key .. ':key', ttl)
-- The state as this step left it: by the time the caller reads the chat, the console may
-- already have confirmed the offer (it can learn of it by resume or heartbeat).
return {id, best, first_answer, redis.call('HGET', key, 'state')}
"""
)

# ARGV: prefix, chat_id, reason, now, ended_ttl. Returns the chat's fields before, or nil.
END_CHAT = (
    _HELPERS
    + r"""
return end_chat(ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]))
"""
)

# ARGV: prefix, helpline, now, ended_ttl. Returns chat_id, fields, chat_id, fields ...
CLOSE_QUEUE = (
    _HELPERS
    + r"""
local closed = {}
for _, id in ipairs(redis.call('ZRANGE', P .. 'queue:' .. ARGV[2], 0, -1)) do
  local before = end_chat(id, 'closed', ARGV[3], tonumber(ARGV[4]))
  if before then
    closed[#closed + 1] = id
    closed[#closed + 1] = before
  end
end
return closed
"""
)

# ARGV: prefix, username, now, front_offset. Returns the requeued chat ids, request order.
REQUEUE_COUNSELOR_CHATS = (
    _HELPERS
    + r"""
local ck = P .. 'counselor:' .. ARGV[2]
local chats = {}
for _, id in ipairs(redis.call('SMEMBERS', ck .. ':chats')) do
  local ticket = tonumber(redis.call('HGET', chat_key(id), 'ticket'))
  if ticket then chats[#chats + 1] = {ticket, id} end
end
table.sort(chats, function(a, b) return a[1] < b[1] end)
local ids = {}
for _, entry in ipairs(chats) do
  local id = entry[2]
  redis.call('SREM', ck .. ':chats', id)
  put_back_in_front(id, redis.call('HGET', chat_key(id), 'helpline'), ARGV[3], tonumber(ARGV[4]))
  ids[#ids + 1] = id
end
if #ids > 0 then redis.call('HSET', ck, 'idle_since', ARGV[3]) end
return ids
"""
)

# ARGV: prefix, chat_id, dedupe key ('' for none), sealed entry, ttl, sender, text bytes,
# max_messages (0: no cap), max_bytes, rate (0: no rate limit), burst, now.
# Returns {seq, new (1/0), sealed entry of the original when not new}, nil if not open, or
# {0, 'full', first (1/0)} / {0, 'rate', 0} when a limit refuses the message.
APPEND_MESSAGE = (
    _HELPERS
    + r"""
local key = chat_key(ARGV[2])
local state = redis.call('HGET', key, 'state')
if not state or state == 'ended' then return false end
if ARGV[3] ~= '' then
  local seen = redis.call('HGET', key .. ':ids', ARGV[3])
  if seen then
    return {tonumber(seen), 0, redis.call('LINDEX', key .. ':log', tonumber(seen) - 1)}
  end
end
local size = tonumber(ARGV[7])
if tonumber(ARGV[8]) > 0 then
  local count = tonumber(redis.call('HGET', key, 'last_seq') or '0')
  local bytes = tonumber(redis.call('HGET', key, 'log_bytes') or '0')
  if count >= tonumber(ARGV[8]) or bytes + size > tonumber(ARGV[9]) then
    return {0, 'full', redis.call('HSETNX', key, 'full_told', '1')}
  end
end
local rate = tonumber(ARGV[10])
if rate > 0 then
  -- The visitor's token bucket for this chat, shared by every connection and process.
  local burst, now = tonumber(ARGV[11]), tonumber(ARGV[12])
  local tokens = tonumber(redis.call('HGET', key, 'rate_tokens') or '') or burst
  local at = tonumber(redis.call('HGET', key, 'rate_at') or '') or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  if tokens < 1 then return {0, 'rate', 0} end
  redis.call('HSET', key, 'rate_tokens', string.format('%.6f', tokens - 1),
    'rate_at', string.format('%.6f', math.max(at, now)))
end
local seq = redis.call('HINCRBY', key, 'last_seq', 1)
redis.call('HINCRBY', key, 'log_bytes', size)
if ARGV[6] == 'visitor' then redis.call('HSET', key, 'visitor_wrote', '1') end
redis.call('RPUSH', key .. ':log', ARGV[4])
if ARGV[3] ~= '' then redis.call('HSET', key .. ':ids', ARGV[3], seq) end
local ttl = tonumber(ARGV[5])
for _, k in ipairs({key, key .. ':log', key .. ':ids', key .. ':key'}) do
  redis.call('EXPIRE', k, ttl)
end
return {seq, 1}
"""
)

# ARGV: prefix, username, display_name, connection key, process id, confirms (1/0),
# helpline ids...
COUNSELOR_CONNECTED = (
    _HELPERS
    + r"""
local u = ARGV[2]
local ck = P .. 'counselor:' .. u
local served = {}
for i = 7, #ARGV do served[ARGV[i]] = true end
local old = redis.call('HGET', ck, 'helplines')
if old then
  for h in string.gmatch(old, '[^,]+') do
    if not served[h] then redis.call('SREM', P .. 'helpline:' .. h .. ':counselors', u) end
  end
end
local list = {}
for i = 7, #ARGV do
  list[#list + 1] = ARGV[i]
  redis.call('SADD', P .. 'helpline:' .. ARGV[i] .. ':counselors', u)
end
redis.call('SADD', P .. 'counselors', u)
redis.call('HSET', ck, 'display_name', ARGV[3], 'helplines', table.concat(list, ','),
  'confirms', ARGV[6])
redis.call('HSETNX', ck, 'available', '0')
redis.call('SADD', ck .. ':conns', ARGV[4])
redis.call('SADD', P .. 'process:' .. ARGV[5] .. ':conns', 'counselor|' .. u .. '|' .. ARGV[4])
return 1
"""
)

# ARGV: prefix, chat_id, connection key, process id. Returns the visitor's connection count.
VISITOR_CONNECTED = (
    _HELPERS
    + r"""
local key = chat_key(ARGV[2])
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('SADD', key .. ':conns', ARGV[3])
redis.call('EXPIRE', key .. ':conns', redis.call('TTL', key))
redis.call('SADD', P .. 'process:' .. ARGV[4] .. ':conns', 'visitor|' .. ARGV[2] .. '|' .. ARGV[3])
return redis.call('SCARD', key .. ':conns')
"""
)

# ARGV: prefix, now. Returns a flat list kind, subject, kind, subject ...
SWEEP_DEAD_PROCESSES = (
    _HELPERS
    + r"""
local processes = P .. 'processes'
local orphans = {}
for _, pid in ipairs(redis.call('ZRANGEBYSCORE', processes, '-inf', ARGV[2])) do
  redis.call('ZREM', processes, pid)
  local entries_key = P .. 'process:' .. pid .. ':conns'
  for _, entry in ipairs(redis.call('SMEMBERS', entries_key)) do
    local kind, subject, conn = string.match(entry, '^([^|]*)|([^|]*)|(.*)$')
    local conns
    if kind == 'visitor' then conns = chat_key(subject) .. ':conns'
    else conns = P .. 'counselor:' .. subject .. ':conns' end
    if redis.call('SREM', conns, conn) == 1 and redis.call('SCARD', conns) == 0 then
      if kind == 'counselor' or redis.call('EXISTS', chat_key(subject)) == 1 then
        orphans[#orphans + 1] = kind
        orphans[#orphans + 1] = subject
      end
    end
  end
  redis.call('DEL', entries_key)
end
return orphans
"""
)

# ARGV: prefix, now. Removes and returns every due deadline key.
POP_DUE_DEADLINES = r"""
local key = ARGV[1] .. 'deadlines'
local due = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[2])
if #due > 0 then redis.call('ZREM', key, unpack(due)) end
return due
"""

# ARGV: prefix, username. Drops a counselor who is offline and owns no chat.
FORGET_COUNSELOR = r"""
local P = ARGV[1]
local u = ARGV[2]
local ck = P .. 'counselor:' .. u
if redis.call('SCARD', ck .. ':conns') > 0 or redis.call('SCARD', ck .. ':chats') > 0 then
  return 0
end
local helplines = redis.call('HGET', ck, 'helplines') or ''
for h in string.gmatch(helplines, '[^,]+') do
  redis.call('SREM', P .. 'helpline:' .. h .. ':counselors', u)
end
redis.call('SREM', P .. 'counselors', u)
redis.call('DEL', ck, ck .. ':conns', ck .. ':chats')
return 1
"""

# ARGV: prefix, chat_id, username, helpline, now, front_offset. Returns 1, or nil.
TRANSFER_TO_HELPLINE = (
    _HELPERS
    + r"""
local id, u = ARGV[2], ARGV[3]
local key = chat_key(id)
if redis.call('HGET', key, 'state') ~= 'chatting' or redis.call('HGET', key, 'counselor') ~= u then
  return false
end
local ck = P .. 'counselor:' .. u
redis.call('SREM', ck .. ':chats', id)
redis.call('HSET', ck, 'idle_since', ARGV[5])
put_back_in_front(id, ARGV[4], ARGV[5], tonumber(ARGV[6]))
return 1
"""
)

# ARGV: prefix, chat_id, username, colleague, max_chats, now.
# Returns the state the chat is left in (offered or chatting), or nil.
TRANSFER_TO_COUNSELOR = (
    _HELPERS
    + r"""
local id, u, to = ARGV[2], ARGV[3], ARGV[4]
local now = tonumber(ARGV[6])
local key = chat_key(id)
if u == to or redis.call('HGET', key, 'state') ~= 'chatting'
    or redis.call('HGET', key, 'counselor') ~= u then
  return false
end
local tk = P .. 'counselor:' .. to
local helpline = redis.call('HGET', key, 'helpline')
if redis.call('HGET', tk, 'available') ~= '1'
    or redis.call('SISMEMBER', P .. 'helpline:' .. helpline .. ':counselors', to) == 0
    or redis.call('SCARD', tk .. ':chats') >= tonumber(ARGV[5])
    or not online(to, now) then
  return false
end
local ck = P .. 'counselor:' .. u
redis.call('SREM', ck .. ':chats', id)
redis.call('HSET', ck, 'idle_since', ARGV[6])
redis.call('SADD', tk .. ':chats', id)
redis.call('HSET', tk, 'idle_since', ARGV[6])
redis.call('HSET', key, 'counselor', to,
  'counselor_name', redis.call('HGET', tk, 'display_name') or to, 'assigned_at', ARGV[6])
offer_or_answer(key, tk)
return redis.call('HGET', key, 'state')
"""
)

# ARGV: prefix, chat_id, username. Returns 1 when the chat was offered to username and is
# now answered by them, 2 when that was also its first answer, or nil.
CONFIRM_ASSIGNMENT = (
    _HELPERS
    + r"""
local key = chat_key(ARGV[2])
if redis.call('HGET', key, 'state') ~= 'offered' or redis.call('HGET', key, 'counselor') ~= ARGV[3]
    then
  return false
end
local first = redis.call('HGET', key, 'answered') ~= '1'
redis.call('HSET', key, 'state', 'chatting', 'answered', 1)
return first and 2 or 1
"""
)

# ARGV: prefix, chat_id, now, front_offset, unconfirmed (1: set the counselor away).
# Returns the chat's fields before, or nil.
WITHDRAW_OFFER = (
    _HELPERS
    + r"""
local id = ARGV[2]
local key = chat_key(id)
if redis.call('HGET', key, 'state') ~= 'offered' then return false end
local before = redis.call('HGETALL', key)
local counselor = redis.call('HGET', key, 'counselor')
if counselor and counselor ~= '' then
  local ck = P .. 'counselor:' .. counselor
  redis.call('SREM', ck .. ':chats', id)
  redis.call('HSET', ck, 'idle_since', ARGV[3])
  if ARGV[5] == '1' then
    redis.call('HSET', ck, 'available', '0', 'away_reason', 'unconfirmed')
  end
end
put_back_in_front(id, redis.call('HGET', key, 'helpline'), ARGV[3], tonumber(ARGV[4]))
return before
"""
)
