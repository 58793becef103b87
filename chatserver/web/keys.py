"""Typed application keys: what the aiohttp app holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import socketio
from aiohttp import web

from chatserver.auth import Authenticator
from chatserver.store.base import Store
from chatserver.switchboard import Switchboard
from chatserver.throttle import Throttle

STORE = web.AppKey("store", Store)
# The live configuration is BOARD.config: SIGHUP replaces it (Switchboard.reload).
BOARD = web.AppKey("board", Switchboard)
AUTH = web.AppKey("auth", Authenticator)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
SIO = web.AppKey("sio", socketio.AsyncServer)
# Bearer token a Prometheus scraper presents at /metrics (None: admins only).
METRICS_TOKEN: web.AppKey[str | None] = web.AppKey("metrics_token")
# Failed logins per account, client and pair (memory, or Redis shared by all processes).
THROTTLE = web.AppKey("throttle", Throttle)
