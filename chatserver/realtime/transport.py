"""Tuning of the Socket.IO stack that every connection pays for.

- JSON: python-socketio encodes every packet; orjson does that several times faster than
  the standard library.
- No per-message deflate on websockets: chat messages are small, so compression buys little
  bandwidth for real CPU, and compressing secrets next to attacker-chosen text under TLS is
  how CRIME/BREACH-style length leaks work. aiohttp offers it by default; python-engineio
  gives no option, so its WebSocketResponse factory is replaced here, once, at import.
"""

from __future__ import annotations

import functools
from typing import Any

import engineio.async_drivers.aiohttp as engineio_aiohttp
import orjson
from aiohttp import web


class OrjsonForSocketIO:
    """The two functions python-socketio and python-engineio call on their json module."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, **_: Any) -> Any:
        return orjson.loads(data)


def disable_websocket_compression() -> None:
    engineio_aiohttp.WebSocketResponse = functools.partial(web.WebSocketResponse, compress=False)
