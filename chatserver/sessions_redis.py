"""Login sessions in Redis, so a staff member stays logged in across servers and restarts.

Keys (only token hashes, never tokens, reach Redis):
  {prefix}session:{hash_token(token)}  -> {"username": ..., "expires_at": <unix ms>,
                                          "generation": <the account's credential generation>}
  {prefix}user-sessions:{username}     -> set of the session hashes of that user, for revoke_user
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import redis.asyncio

from chatserver.crypto import hash_token, new_token
from chatserver.sessions import SESSION_TTL, Session


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class RedisSessionStore:
    """SessionStore on a shared Redis.

    Expiry is decided by the stored expires_at against the `now` passed in, like the memory
    store, so an injected clock works. Redis's own expiry (ttl of Redis's real time after
    create) only collects keys nobody resolves again; it is relative rather than an absolute
    now + ttl so that a clock behind Redis's (a test clock, a skewed host) cannot make Redis
    drop a session that is still live by that clock.
    """

    def __init__(
        self, client: redis.asyncio.Redis, prefix: str, ttl: timedelta = SESSION_TTL
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl

    def session_key(self, session_hash: str) -> str:
        return f"{self._prefix}session:{session_hash}"

    def user_key(self, username: str) -> str:
        return f"{self._prefix}user-sessions:{username}"

    async def create(self, username: str, now: datetime, generation: str = "") -> str:
        token = new_token()
        session_hash = hash_token(token)
        record = json.dumps(
            {"username": username, "expires_at": _ms(now + self._ttl), "generation": generation}
        )
        ttl_ms = max(1, int(self._ttl.total_seconds() * 1000))
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(self.session_key(session_hash), record, px=ttl_ms)
            pipe.sadd(self.user_key(username), session_hash)
            # Every session of one store has the same ttl, so the newest outlives the others.
            pipe.pexpire(self.user_key(username), ttl_ms)
            await pipe.execute()
        return token

    async def resolve(self, token: str, now: datetime) -> str | None:
        session = await self.session(token, now)
        return None if session is None else session.username

    async def session(self, token: str, now: datetime) -> Session | None:
        session_hash = hash_token(token)
        data = await self._client.get(self.session_key(session_hash))
        if data is None:
            return None
        record = _parse(data)
        if record is None:
            return None  # not written by this code: treat as no session rather than fail
        username, expires_at, generation = record
        if _ms(now) >= expires_at:
            await self._drop(session_hash, username)
            return None
        return Session(username, generation)

    async def revoke(self, token: str) -> None:
        session_hash = hash_token(token)
        data = await self._client.getdel(self.session_key(session_hash))
        record = None if data is None else _parse(data)
        if record is not None:
            await self._client.srem(self.user_key(record[0]), session_hash)

    async def revoke_user(self, username: str) -> None:
        members = await self._client.smembers(self.user_key(username))
        if not members:
            return
        hashes = [m.decode("ascii") if isinstance(m, bytes) else m for m in members]
        # SREM only what was read: a session created meanwhile keeps its place in the set.
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(*(self.session_key(h) for h in hashes))
            pipe.srem(self.user_key(username), *hashes)
            await pipe.execute()

    async def _drop(self, session_hash: str, username: str) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self.session_key(session_hash))
            pipe.srem(self.user_key(username), session_hash)
            await pipe.execute()


def _parse(data: bytes | str) -> tuple[str, int, str] | None:
    """(username, expires_at ms, generation) of a stored record, or None if it is not one."""
    try:
        record = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict):
        return None
    username, expires_at = record.get("username"), record.get("expires_at")
    generation = record.get("generation", "")
    if not isinstance(username, str) or type(expires_at) is not int:
        return None
    return username, expires_at, generation if isinstance(generation, str) else ""
