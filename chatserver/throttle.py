"""Login throttling: who may try a password now, decided before the password is checked.

Three counters, each of failed (or still unsettled) logins:

- the pair (account, client): 5 failures in 5 minutes pause that client on that account until
  the oldest of them is 5 minutes old. A stranger pauses only themselves, not the real user.
- the account, from any client: a much looser exponential backoff. The first 10 failures in an
  hour are free; then each attempt waits 1 s after the last failure, doubling up to 60 s. Many
  addresses together still get at most about one guess a minute, and the real user waits at
  most a minute however many strangers try.
- the client, on any account (password spraying): the first 20 failures in an hour are free,
  then the same backoff. A right login forgives this client's failures on that account only.

An attempt is counted when it is let through (reserve) and forgiven if it turns out right
(succeeded), so concurrent attempts cannot all pass the check before any of them is counted.
A right password without the one-time code an account needs stays counted too.

"Client" is the connection's peer address, never stored or logged: counters are keyed by an
HMAC-SHA256 under a random per-process key (in memory) or a key derived from
CHATSERVER_SECRET (in Redis, so all processes count together), and forgotten after the window.
This module holds the rules and the in-memory variant; throttle_redis.py holds the Redis one.
LoginThrottle, at the end, is the plain sliding window per keyed digest that logins used before
and the start limit per visitor address (start_limit.py) still uses.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

PAIR_MAX_FAILURES = 5
PAIR_WINDOW = timedelta(minutes=5)
ACCOUNT_FREE_FAILURES = 10
CLIENT_FREE_FAILURES = 20
BACKOFF_WINDOW = timedelta(hours=1)
BACKOFF_FIRST = timedelta(seconds=1)
BACKOFF_CAP = timedelta(seconds=60)
# Beyond this many tracked keys, expired ones are swept before a new one is added.
SWEEP_ABOVE = 10_000


@dataclass(frozen=True, slots=True)
class LoginKeys:
    """The counters one login attempt touches: keyed hashes, never a name or an address."""

    pair: str
    account: str
    client: str


class Throttle(Protocol):
    def keys(self, username: str, peer: str | None) -> LoginKeys: ...

    async def reserve(self, keys: LoginKeys, now: datetime) -> int | None:
        """Count an attempt and return None, or return whole seconds to wait (nothing counted)."""
        ...

    async def succeeded(self, keys: LoginKeys, now: datetime) -> None:
        """A right login: forgive the pair and the account, and the client's failures on it."""
        ...


class KeyedHasher:
    """Turns usernames and addresses into counter keys with an HMAC, so neither is kept."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def keys(self, username: str, peer: str | None) -> LoginKeys:
        account = username.lower()[:64]
        client = peer or "unknown"
        return LoginKeys(
            pair=self._digest("pair", account, client),
            account=self._digest("account", account),
            client=self._digest("client", client),
        )

    def _digest(self, *parts: str) -> str:
        # surrogatepass: a name that is not valid Unicode still gets a key, never an error.
        text = "\0".join(parts).encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, text, hashlib.sha256).hexdigest()


def backoff_delay(failures: int, free: int) -> timedelta:
    """How long after the last failure the next attempt waits, with `failures` counted."""
    if failures < free:
        return timedelta(0)
    delay: timedelta = BACKOFF_FIRST * 2 ** min(failures - free, 30)
    return min(delay, BACKOFF_CAP)


def whole_seconds(wait: timedelta) -> int | None:
    """None when there is nothing to wait; otherwise at least 1 second, rounded up."""
    seconds = wait.total_seconds()
    return max(1, math.ceil(seconds)) if seconds > 0 else None


@dataclass(slots=True)
class _Failure:
    at: datetime
    pair: str  # which pair it belongs to, so a right login forgives only that pair's


class MemoryLoginThrottle(KeyedHasher):
    """The counters in this process's memory: nothing survives a restart."""

    def __init__(self, secret: bytes | None = None) -> None:
        super().__init__(secret)
        # key -> failures still inside the key's window, oldest first
        self._failures: dict[str, list[_Failure]] = {}

    def _recent(self, key: str, window: timedelta, now: datetime) -> list[_Failure]:
        kept = [f for f in self._failures.get(key, ()) if now - f.at < window]
        if kept:
            self._failures[key] = kept
        else:
            self._failures.pop(key, None)
        return kept

    def _wait(self, keys: LoginKeys, now: datetime) -> timedelta:
        waits = [timedelta(0)]
        pair = self._recent(keys.pair, PAIR_WINDOW, now)
        if len(pair) >= PAIR_MAX_FAILURES:
            # Free again once the failure that made the count reach the limit ages out.
            waits.append(pair[-PAIR_MAX_FAILURES].at + PAIR_WINDOW - now)
        for key, free in (
            (keys.account, ACCOUNT_FREE_FAILURES),
            (keys.client, CLIENT_FREE_FAILURES),
        ):
            failures = self._recent(key, BACKOFF_WINDOW, now)
            if failures:
                waits.append(failures[-1].at + backoff_delay(len(failures), free) - now)
        return max(waits)

    async def reserve(self, keys: LoginKeys, now: datetime) -> int | None:
        # No await between the check and the count: concurrent logins see each other.
        wait = whole_seconds(self._wait(keys, now))
        if wait is not None:
            return wait
        for key in (keys.pair, keys.account, keys.client):
            if key not in self._failures and len(self._failures) >= SWEEP_ABOVE:
                self._sweep(now)
            self._failures.setdefault(key, []).append(_Failure(now, keys.pair))
        return None

    async def succeeded(self, keys: LoginKeys, now: datetime) -> None:
        self._failures.pop(keys.pair, None)
        self._failures.pop(keys.account, None)
        client = [f for f in self._failures.get(keys.client, ()) if f.pair != keys.pair]
        if client:
            self._failures[keys.client] = client
        else:
            self._failures.pop(keys.client, None)

    def _sweep(self, now: datetime) -> None:
        for key in list(self._failures):
            self._recent(key, BACKOFF_WINDOW, now)

    def __len__(self) -> int:
        return len(self._failures)


# --- one sliding window per keyed digest ------------------------------------------------------


class LoginThrottle:
    """At most max_failures events per key in any window: the first login throttle's counter.

    Logins now use Throttle (above); this plain per-key sliding window stays for counters that
    need nothing more, such as the start limit per visitor address (start_limit.py), which
    counts a `start` as a "failure" under a client_key digest.
    """

    def __init__(
        self,
        max_failures: int = PAIR_MAX_FAILURES,
        window: timedelta = PAIR_WINDOW,
        secret: bytes | None = None,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        # key -> times of the failures still inside the window, oldest first
        self._failures: dict[str, list[datetime]] = {}

    def account_key(self, username: str) -> str:
        return "account:" + self._digest(username.lower()[:64])

    def client_key(self, peer: str | None) -> str:
        """The counter of one peer address: an HMAC, so the address itself is never kept."""
        return "client:" + self._digest(peer or "unknown")

    def _digest(self, text: str) -> str:
        return hmac.new(
            self._secret, text.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()

    def _recent(self, key: str, now: datetime) -> list[datetime]:
        times = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def retry_after(self, keys: Iterable[str], now: datetime) -> int | None:
        """Whole seconds until a login may be tried again, or None when it may be tried now."""
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                # Free again once the failure that made the count reach the limit ages out.
                freed_at = times[-self.max_failures] + self.window
                wait = max(wait, (freed_at - now).total_seconds())
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, keys: Iterable[str], now: datetime) -> None:
        for key in keys:
            if key not in self._failures and len(self._failures) >= SWEEP_ABOVE:
                self._sweep(now)
            self._recent(key, now)
            self._failures.setdefault(key, []).append(now)

    def succeeded(self, account_key: str) -> None:
        """A right login clears the account's failures (never the client's)."""
        self._failures.pop(account_key, None)

    def _sweep(self, now: datetime) -> None:
        for key in list(self._failures):
            self._recent(key, now)

    def __len__(self) -> int:
        return len(self._failures)
