"""Login throttling: too many failed logins per account or per client and logins pause.

Pure bookkeeping with the time passed in; the login route decides what a failure is.

"Per client" is the connection's peer address, which is never stored or logged: the counter is
keyed by an HMAC-SHA256 of it under a random key made when the process starts, held only in
this process's memory and only for the window. Nothing survives a restart, and with several
server processes each one counts on its own (a client gets up to MAX_FAILURES per process).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

MAX_FAILURES = 5
WINDOW = timedelta(minutes=5)
# Beyond this many tracked keys, expired ones are swept before a new one is added.
SWEEP_ABOVE = 10_000


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: timedelta = WINDOW,
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
        return hmac.new(self._secret, text.encode("utf-8"), hashlib.sha256).hexdigest()

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
