"""Login throttling in Redis: every process counts the same failures (rules in throttle.py).

Keys (only keyed hashes of usernames and addresses reach Redis, never either itself):
  {prefix}login-failures:{hash}  -> sorted set, member "{pair hash}:{random}", score = time in ms

Check and count are one Lua script, so concurrent logins on any number of processes cannot
all pass the check before one of them is counted. Time is passed in, as in the memory variant.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import redis.asyncio

from chatserver.throttle import (
    ACCOUNT_FREE_FAILURES,
    BACKOFF_CAP,
    BACKOFF_FIRST,
    BACKOFF_WINDOW,
    CLIENT_FREE_FAILURES,
    PAIR_MAX_FAILURES,
    PAIR_WINDOW,
    KeyedHasher,
    LoginKeys,
    whole_seconds,
)

_SECRET_INFO = b"chatserver v1 login throttle"

# KEYS: pair, account, client. ARGV: now, member, pair max, pair window, backoff window,
# account free, client free, first delay, delay cap (times in ms).
# Returns 0 when the attempt was counted, else the ms to wait (nothing counted).
_RESERVE = """
local now = tonumber(ARGV[1])
local pair_max, pair_window = tonumber(ARGV[3]), tonumber(ARGV[4])
local window, first, cap = tonumber(ARGV[5]), tonumber(ARGV[8]), tonumber(ARGV[9])
local wait = 0
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - pair_window)
local pair = redis.call('ZCARD', KEYS[1])
if pair >= pair_max then
  local oldest = redis.call('ZRANGE', KEYS[1], pair - pair_max, pair - pair_max, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + pair_window - now)
end
local function backoff(key, free)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count < free then return 0 end
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  return tonumber(last[2]) + math.min(first * 2 ^ math.min(count - free, 30), cap) - now
end
wait = math.max(wait, backoff(KEYS[2], tonumber(ARGV[6])), backoff(KEYS[3], tonumber(ARGV[7])))
if wait > 0 then return math.ceil(wait) end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], pair_window)
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[i], window)
end
return 0
"""

# KEYS: pair, account, client. ARGV: the pair's member prefix.
_SUCCEEDED = """
redis.call('DEL', KEYS[1], KEYS[2])
for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  if string.sub(member, 1, #ARGV[1]) == ARGV[1] then redis.call('ZREM', KEYS[3], member) end
end
return 0
"""


def _ms(value: timedelta) -> int:
    return int(value.total_seconds() * 1000)


def throttle_secret(key_encryption_key: bytes) -> bytes:
    """The HMAC key every process shares, derived from the one CHATSERVER_SECRET gives."""
    return hmac.new(key_encryption_key, _SECRET_INFO, hashlib.sha256).digest()


class RedisLoginThrottle(KeyedHasher):
    def __init__(self, client: redis.asyncio.Redis, prefix: str, secret: bytes) -> None:
        super().__init__(secret)
        self._client = client
        self._prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._succeeded = client.register_script(_SUCCEEDED)

    def key(self, digest: str) -> str:
        return f"{self._prefix}login-failures:{digest}"

    def _keys(self, keys: LoginKeys) -> list[str]:
        return [self.key(keys.pair), self.key(keys.account), self.key(keys.client)]

    async def reserve(self, keys: LoginKeys, now: datetime) -> int | None:
        member = f"{keys.pair}:{secrets.token_hex(8)}"
        args: list[str | int] = [
            int(now.timestamp() * 1000),
            member,
            PAIR_MAX_FAILURES,
            _ms(PAIR_WINDOW),
            _ms(BACKOFF_WINDOW),
            ACCOUNT_FREE_FAILURES,
            CLIENT_FREE_FAILURES,
            _ms(BACKOFF_FIRST),
            _ms(BACKOFF_CAP),
        ]
        wait_ms = int(await self._reserve(keys=self._keys(keys), args=args))
        return whole_seconds(timedelta(milliseconds=wait_ms))

    async def succeeded(self, keys: LoginKeys, now: datetime) -> None:
        await self._succeeded(keys=self._keys(keys), args=[f"{keys.pair}:"])
