"""How many new chats one client may start: a few a minute, counted per server process.

Without it one client with a couple of dozen connections fills a helpline's queue and real
visitors get "full". The client is told apart by its address, the one thing read from a
visitor's request. The address only ever goes into an HMAC under a random key made when the
process starts (throttle.LoginThrottle.client_key), and that digest is kept in this process's
memory for at most the window: never stored, sent to Redis or logged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from chatserver.config import IPNetwork
from chatserver.throttle import LoginThrottle

WINDOW = timedelta(minutes=1)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted_proxies: tuple[IPNetwork, ...]
) -> str | None:
    """The client's address: the peer, or what a trusted proxy says in X-Forwarded-For.

    X-Forwarded-For is read from the right: every hop that is itself a trusted proxy is
    skipped, and the first other one is the client. From any other peer it is ignored, so a
    client cannot pick its own address.
    """
    if peer is None or not forwarded_for or not _trusted(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, trusted_proxies: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)


class StartLimiter:
    """At most per_minute `start`s per client address in any minute."""

    def __init__(self, per_minute: int, trusted_proxies: tuple[IPNetwork, ...]) -> None:
        # A sliding window of recent starts per keyed digest: the login throttle's
        # bookkeeping, where a "failure" is one start.
        self._starts = LoginThrottle(max_failures=per_minute, window=WINDOW)
        self._trusted = trusted_proxies

    def client_key(self, environ: Mapping[str, Any] | None) -> str:
        """The digest that stands for the connection's client (aiohttp transport)."""
        environ = environ or {}
        request = environ.get("aiohttp.request")
        peer = getattr(request, "remote", None)
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        address = client_address(peer, forwarded, self._trusted)
        return self._starts.client_key(address)

    def try_start(self, key: str, now: datetime) -> int | None:
        """Count one start; or, when the client is at its limit, the seconds until it may."""
        wait = self._starts.retry_after([key], now)
        if wait is None:
            self._starts.failed([key], now)
        return wait
