"""Login sessions of staff: opaque tokens that map to a username for SESSION_TTL.

Only hashes of tokens are kept, so a memory dump or a Redis copy does not hand out logins.
Time is passed in so that expiry can be tested without waiting.

A session also remembers the account's credential generation when it began (see
accounts.credential_generation): the Authenticator refuses it once the password or second
factor changed, even when the change was made by `chatserver users` in another process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chatserver.crypto import hash_token, new_token

# Long enough for a counselor's shift, short enough that a forgotten browser does not stay in.
SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    # The account's credential generation at login; "" for sessions made without one.
    generation: str = ""


class SessionStore(Protocol):
    async def create(self, username: str, now: datetime, generation: str = "") -> str:
        """Start a session; returns the token, which is never stored as such."""
        ...

    async def resolve(self, token: str, now: datetime) -> str | None:
        """The username of a live session, or None if unknown or expired."""
        ...

    async def session(self, token: str, now: datetime) -> Session | None:
        """The live session of a token, or None if unknown or expired."""
        ...

    async def revoke(self, token: str) -> None:
        """End one session (logout); unknown tokens are ignored."""
        ...

    async def revoke_user(self, username: str) -> None:
        """End every session of a user, after removal or a password change."""
        ...


@dataclass(frozen=True, slots=True)
class _Session:
    session: Session
    expires_at: datetime


class MemorySessionStore:
    """Sessions of a single process; never written to disk, so a restart logs everyone out."""

    def __init__(self, ttl: timedelta = SESSION_TTL) -> None:
        self._ttl = ttl
        self._sessions: dict[str, _Session] = {}

    async def create(self, username: str, now: datetime, generation: str = "") -> str:
        self._drop_expired(now)
        token = new_token()
        self._sessions[hash_token(token)] = _Session(Session(username, generation), now + self._ttl)
        return token

    async def resolve(self, token: str, now: datetime) -> str | None:
        session = await self.session(token, now)
        return None if session is None else session.username

    async def session(self, token: str, now: datetime) -> Session | None:
        key = hash_token(token)
        stored = self._sessions.get(key)
        if stored is None:
            return None
        if now >= stored.expires_at:
            del self._sessions[key]
            return None
        return stored.session

    async def revoke(self, token: str) -> None:
        self._sessions.pop(hash_token(token), None)

    async def revoke_user(self, username: str) -> None:
        for key in [k for k, s in self._sessions.items() if s.session.username == username]:
            del self._sessions[key]

    def _drop_expired(self, now: datetime) -> None:
        # Sessions nobody resolves again (closed browsers) would otherwise pile up.
        for key in [k for k, s in self._sessions.items() if now >= s.expires_at]:
            del self._sessions[key]
