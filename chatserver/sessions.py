"""Login sessions of staff: opaque tokens that map to a username for SESSION_TTL.

Only hashes of tokens are kept, so a memory dump or a Redis copy does not hand out logins.
Time is passed in so that expiry can be tested without waiting.

A session also remembers the account's credential generation when it began (see
accounts.credential_generation): the Authenticator refuses it once the password or second
factor changed, even when the change was made by `chatserver users` in another process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from chatserver.atomic_file import write_atomically
from chatserver.crypto import hash_token, new_token

log = logging.getLogger(__name__)

SESSIONS_FILE_NAME = "sessions.json"

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
    """Sessions of a single process, in memory (FileSessionStore keeps them across restarts)."""

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
        if self._sessions.pop(hash_token(token), None) is not None:
            await self._changed()

    async def revoke_user(self, username: str) -> None:
        keys = [k for k, s in self._sessions.items() if s.session.username == username]
        for key in keys:
            del self._sessions[key]
        if keys:
            await self._changed()

    def _drop_expired(self, now: datetime) -> None:
        # Sessions nobody resolves again (closed browsers) would otherwise pile up.
        for key in [k for k, s in self._sessions.items() if now >= s.expires_at]:
            del self._sessions[key]

    async def _changed(self) -> None:
        """Called after every create or revoke; memory only keeps nothing."""


class FileSessionStore(MemorySessionStore):
    """Sessions of the single process without Redis, kept in DATA_DIR/sessions.json.

    Staff sessions survive a deploy, so a restart does not log counselors out. The file
    holds only token hashes (SHA-256 of 256-bit random tokens), usernames, credential
    generations and expiry times: a copy of it hands out no login.
    """

    def __init__(self, data_dir: Path, ttl: timedelta = SESSION_TTL) -> None:
        super().__init__(ttl)
        self.path = data_dir / SESSIONS_FILE_NAME
        self._lock = asyncio.Lock()
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            for key, entry in raw.items():
                session = Session(str(entry["username"]), str(entry.get("generation", "")))
                expires_at = datetime.fromisoformat(entry["expires_at"])
                self._sessions[str(key)] = _Session(session, expires_at)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Losing sessions only means logging in again; a broken file must not stop a start.
            self._sessions.clear()
            log.warning("ignoring unreadable %s (%s)", self.path.name, type(exc).__name__)

    async def create(self, username: str, now: datetime, generation: str = "") -> str:
        token = await super().create(username, now, generation)
        await self._changed()
        return token

    async def _changed(self) -> None:
        snapshot = json.dumps(
            {
                key: {
                    "username": stored.session.username,
                    "generation": stored.session.generation,
                    "expires_at": stored.expires_at.isoformat(),
                }
                for key, stored in self._sessions.items()
            },
            sort_keys=True,
        )
        async with self._lock:  # writes land in the order the changes were made
            await asyncio.to_thread(write_atomically, self.path, snapshot)
