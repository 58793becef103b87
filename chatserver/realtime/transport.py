"""Tuning of the Socket.IO stack that every connection pays for.

- JSON: python-socketio encodes every packet; orjson does that several times faster than
  the standard library.
- No per-message deflate on websockets: chat messages are small, so compression buys little
  bandwidth for real CPU, and compressing secrets next to attacker-chosen text under TLS is
  how CRIME/BREACH-style length leaks work. aiohttp offers it by default; python-engineio
  gives no option, so its WebSocketResponse factory is replaced here, once, at import.
- Input checks at the Engine.IO layer (GuardedEngineServer): python-engineio trusts the
  frames and bodies it is given; a client that sends garbage gets its session closed and one
  short, rate-limited log line (realtime.badinput), not a traceback per frame.
"""

from __future__ import annotations

import functools
from typing import Any

import engineio
import engineio.async_drivers.aiohttp as engineio_aiohttp
import orjson
from aiohttp import web

from chatserver.realtime.badinput import BAD_INPUT


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


# Engine.IO packet types a client may send: CLOSE, PING (upgrade probe), PONG, MESSAGE, UPGRADE.
_CLIENT_PACKET_TYPES = frozenset("12345")
# python-engineio's own limit on packets in one long-polling body.
_MAX_PACKETS_PER_POST = 16


def is_engineio_text_packet(frame: object) -> bool:
    """A text frame that starts with a packet type a client may send.

    Binary frames (and base64 'b' packets) are Socket.IO attachments, which the contract has
    none of; anything else would make python-engineio raise before any handler runs.
    """
    return isinstance(frame, str) and frame[:1] in _CLIENT_PACKET_TYPES


def is_engineio_payload(body: str) -> bool:
    packets = body.split("\x1e")
    return len(packets) <= _MAX_PACKETS_PER_POST and all(map(is_engineio_text_packet, packets))


class _BodyReader:
    """The already-read body of a long-polling POST, as python-engineio reads it."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def read(self, length: int = -1) -> bytes:
        return self._body if length < 0 else self._body[:length]


class GuardedWebSocket(engineio_aiohttp.WebSocket):  # type: ignore[misc]
    """python-engineio's aiohttp websocket, refusing frames that are no Engine.IO text packet.

    Returning None tells python-engineio the client left: it ends the session, its handlers
    run and the websocket is closed. Each open websocket is findable by its Engine.IO session
    id, so the Socket.IO layer can close a connection that keeps misbehaving.
    """

    async def __call__(self, environ: dict[str, Any]) -> Any:
        sid = getattr(getattr(self.handler, "__self__", None), "sid", None)
        open_websockets: dict[str, GuardedWebSocket] = self.server.open_websockets
        if sid is not None:
            open_websockets[sid] = self
        try:
            return await super().__call__(environ)
        finally:
            if sid is not None and open_websockets.get(sid) is self:
                del open_websockets[sid]

    async def wait(self) -> Any:
        frame = await super().wait()
        if is_engineio_text_packet(frame):
            return frame
        BAD_INPUT.refused("websocket frame that is no Engine.IO text packet; closing")
        return None

    async def close(self) -> None:
        if self._sock is not None and not self._sock.closed:
            await self._sock.close()


class GuardedEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """python-engineio's server with the two client inputs it trusts checked first.

    - Websocket frames go through GuardedWebSocket.
    - A long-polling POST body (read, bounded and timed by web.limits.bounded_body) must be
      UTF-8 and well-formed Engine.IO: otherwise 400 and the session ends, where
      python-engineio would log a traceback and answer 200.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.open_websockets: dict[str, GuardedWebSocket] = {}
        self._async = {
            **engineio_aiohttp._async,
            "websocket": GuardedWebSocket,
            "translate_request": self._translate_request,
        }

    async def _translate_request(self, request: web.Request) -> dict[str, Any]:
        environ: dict[str, Any] = engineio_aiohttp.translate_request(request)
        if request.method != "POST":
            return environ
        body = await request.read()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or not is_engineio_payload(text):
            BAD_INPUT.refused("long-polling body that is no UTF-8 Engine.IO payload; closing")
            sid = request.query.get("sid")
            if sid is not None:
                await self.close_session(sid)
            raise web.HTTPBadRequest(text="malformed Engine.IO payload")
        environ["wsgi.input"] = _BodyReader(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return environ

    async def close_session(self, sid: str) -> None:
        """End a session now: its disconnect handlers run and its websocket is closed."""
        socket = self.sockets.pop(sid, None)
        if socket is not None and not socket.closed:
            await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
        websocket = self.open_websockets.pop(sid, None)
        if websocket is not None:
            await websocket.close()
