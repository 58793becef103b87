"""Login sessions of staff: opaque tokens that map to a username for SESSION_TTL.

Only hashes of tokens are kept, so a memory dump or a Redis copy does not hand out logins.
Time is passed in so that expiry can be tested without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chatserver.crypto import hash_token, new_token

# Long enough for a counselor's shift, short enough that a forgotten browser does not stay in.
SESSION_TTL = timedelta(hours=12)


class SessionStore(Protocol):
    async def create(self, username: str, now: datetime) -> str:
        """Start a session; returns the token, which is never stored as such."""
        ...

    async def resolve(self, token: str, now: datetime) -> str | None:
        """The username of a live session, or None if unknown or expired."""
        ...

    async def revoke(self, token: str) -> None:
        """End one session (logout); unknown tokens are ignored."""
        ...

    async def revoke_user(self, username: str) -> None:
        """End every session of a user, after removal or a password change."""
        ...


@dataclass(frozen=True, slots=True)
class _Session:
    username: str
    expires_at: datetime


class MemorySessionStore:
    """Sessions of a single process; never written to disk, so a restart logs everyone out."""

    def __init__(self, ttl: timedelta = SESSION_TTL) -> None:
        self._ttl = ttl
        self._sessions: dict[str, _Session] = {}

    async def create(self, username: str, now: datetime) -> str:
        self._drop_expired(now)
        token = new_token()
        self._sessions[hash_token(token)] = _Session(username, now + self._ttl)
        return token

    async def resolve(self, token: str, now: datetime) -> str | None:
        key = hash_token(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        if now >= session.expires_at:
            del self._sessions[key]
            return None
        return session.username

    async def revoke(self, token: str) -> None:
        self._sessions.pop(hash_token(token), None)

    async def revoke_user(self, username: str) -> None:
        for key in [k for k, s in self._sessions.items() if s.username == username]:
            del self._sessions[key]

    def _drop_expired(self, now: datetime) -> None:
        # Sessions nobody resolves again (closed browsers) would otherwise pile up.
        for key in [k for k, s in self._sessions.items() if now >= s.expires_at]:
            del self._sessions[key]
