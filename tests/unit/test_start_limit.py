"""Rules for the start limit: which address counts, and only ever as a keyed digest."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from chatserver.start_limit import StartLimiter, client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))
T0 = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


def test_without_a_trusted_proxy_the_peer_is_the_client() -> None:
    assert client_address("192.0.2.1", "198.51.100.7", ()) == "192.0.2.1"
    assert client_address("192.0.2.1", "198.51.100.7", PROXIES) == "192.0.2.1"


def test_a_trusted_proxy_names_the_client_rightmost_untrusted_hop_first() -> None:
    assert client_address("127.0.0.1", "198.51.100.7", PROXIES) == "198.51.100.7"
    # A client cannot hide behind a made-up first hop: the proxies append, read from the right.
    forwarded = "203.0.113.1, 198.51.100.7, 10.1.2.3"
    assert client_address("10.0.0.5", forwarded, PROXIES) == "198.51.100.7"
    assert client_address("10.0.0.5", "10.1.1.1, 10.2.2.2", PROXIES) == "10.1.1.1"
    assert client_address("10.0.0.5", None, PROXIES) == "10.0.0.5"


def test_a_few_starts_a_minute_per_address_and_never_the_address_itself() -> None:
    limiter = StartLimiter(3, PROXIES)
    environ = {"aiohttp.request": SimpleNamespace(remote="192.0.2.1")}
    key = limiter.client_key(environ)
    assert "192.0.2.1" not in key
    assert [limiter.try_start(key, T0) for _ in range(3)] == [None, None, None]
    assert limiter.try_start(key, T0 + timedelta(seconds=20)) == 40
    other = limiter.client_key({"aiohttp.request": SimpleNamespace(remote="192.0.2.2")})
    assert limiter.try_start(other, T0) is None
    assert limiter.try_start(key, T0 + timedelta(seconds=60)) is None
