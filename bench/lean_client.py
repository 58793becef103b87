"""A lean Socket.IO v5 client over one Engine.IO v4 websocket, for driving thousands of clients.

python-socketio's AsyncClient tops out at about 1,500 events/s per process; this client does
only what the widget and the console do over a websocket: receive the Engine.IO open packet,
answer pings, connect one namespace (with `auth` for the console), emit events with an ack id,
and read acks and events. No polling, no reconnection, no binary packets.

Wire format (one Engine.IO packet per websocket frame):

    0{"sid":..,"pingInterval":..}      server: open            2 / 3   ping / pong
    40/visitor,  40/counselor,{auth}   client: connect a namespace
    40/visitor,{"sid":..}              server: connected       44/ns,{..}  connect refused
    42/visitor,7["start",{..}]         event with ack id 7     43/ns,7[{..}]  its ack
    42/visitor,["queue",{..}]          server event            41/ns,  namespace disconnect
    42/counselor,5["heartbeat",{..}]   server event asking for an ack: answered 43/counselor,5[{}]

Like a browser, it offers permessage-deflate (`compress=15`) unless told not to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

try:  # the load generator is leaner with orjson; the wire format is the same
    import orjson

    def _dumps(obj: Any) -> str:
        return orjson.dumps(obj).decode()

    _loads: Callable[[str], Any] = orjson.loads
except ImportError:  # pragma: no cover
    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    def _dumps(obj: Any) -> str:
        return _encoder.encode(obj)

    _loads = json.loads

EventHandler = Callable[[str, Any], Awaitable[None] | None]
AckHandler = Callable[[Any], None]

# Engine.IO packet types (first character of every frame).
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE = "0", "1", "2", "3", "4"
# Socket.IO packet types (second character of an Engine.IO message).
SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR = "0", "1", "2", "3", "4"

WS_PATH = "/socket.io/?EIO=4&transport=websocket"


class ConnectRefused(Exception):
    """The server answered the namespace connect with a CONNECT_ERROR packet."""

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.data = data


class Disconnected(Exception):
    """The websocket closed, or the server disconnected the namespace."""


def encode(kind: str, namespace: str, data: Any = None, ack_id: int | None = None) -> str:
    """One Socket.IO packet inside an Engine.IO message, as python-socketio encodes it."""
    prefix = EIO_MESSAGE + kind + ("" if namespace == "/" else namespace + ",")
    if ack_id is not None:
        prefix += str(ack_id)
    return prefix if data is None else prefix + _dumps(data)


def decode(frame: str) -> tuple[str, str, int | None, Any]:
    """(kind, namespace, ack id, data) of one Engine.IO message frame ("4...")."""
    kind = frame[1]
    end = len(frame)
    i = 2
    namespace = "/"
    if i < end and frame[i] == "/":
        comma = frame.find(",", i)
        if comma < 0:
            namespace, i = frame[i:], end
        else:
            namespace, i = frame[i:comma], comma + 1
    j = i
    while j < end and frame[j].isdigit():
        j += 1
    ack_id = int(frame[i:j]) if j > i else None
    data = _loads(frame[j:]) if j < end else None
    return kind, namespace, ack_id, data


class LeanSocket:
    """One client connection to one namespace.

    `on_event(event, data)` is called for every server event, in order, from the reader
    task; it may return an awaitable (awaited before the next frame is read). A server event
    that asks for an ack (protocol 2's `heartbeat`) is answered at once with `{}`: a live
    console answers them, and the server disconnects one that does not.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        namespace: str = "/",
        *,
        on_event: EventHandler | None = None,
        compress: bool = True,
    ) -> None:
        self.session = session
        self.url = base_url.replace("http://", "ws://", 1).rstrip("/") + WS_PATH
        self.namespace = namespace
        self.on_event = on_event
        self.compress = compress
        self.sid: str | None = None
        self.connected = False
        # Set when the connection ended without close() being called: why, in a few words.
        self.lost: str | None = None
        self._closing = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connecting: asyncio.Future[Any] | None = None
        self._acks: dict[int, AckHandler] = {}
        self._next_id = 0

    async def connect(self, auth: dict[str, Any] | None = None, timeout: float = 20.0) -> None:
        """Open the websocket and connect the namespace; raises ConnectRefused or TimeoutError.

        20 s is socket.io-client's default connect timeout: a browser gives up then too.
        """
        async with asyncio.timeout(timeout):
            self._ws = await self.session.ws_connect(
                self.url, compress=15 if self.compress else 0, max_msg_size=0
            )
            opening = await self._ws.receive()
            if opening.type != aiohttp.WSMsgType.TEXT or not opening.data.startswith(EIO_OPEN):
                raise Disconnected(f"expected an Engine.IO open packet, got {opening.type!r}")
            self._connecting = asyncio.get_running_loop().create_future()
            self._reader = asyncio.create_task(self._read())
            await self._ws.send_str(encode(SIO_CONNECT, self.namespace, auth))
            await self._connecting

    async def emit(self, event: str, data: Any = None, on_ack: AckHandler | None = None) -> None:
        """Send an event; with on_ack, ask for an ack and call on_ack with its first argument."""
        if self._ws is None or not self.connected:
            raise Disconnected("not connected")
        args = [event] if data is None else [event, data]
        ack_id = None
        if on_ack is not None:
            ack_id = self._next_id
            self._next_id += 1
            self._acks[ack_id] = on_ack
        await self._ws.send_str(encode(SIO_EVENT, self.namespace, args, ack_id))

    async def call(self, event: str, data: Any = None, timeout: float = 20.0) -> Any:
        """Send an event and wait for its ack (like socket.emitWithAck)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def resolve(value: Any) -> None:
            if not future.done():
                future.set_result(value)

        await self.emit(event, data, resolve)
        async with asyncio.timeout(timeout):
            return await future

    async def close(self) -> None:
        self._closing = True
        self.connected = False
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                await self._ws.send_str(encode(SIO_DISCONNECT, self.namespace))
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame: str = message.data
                first = frame[:1]
                if first == EIO_MESSAGE:
                    pending = self._packet(frame)
                    if pending is not None:
                        await pending
                elif first == EIO_PING:
                    await ws.send_str(EIO_PONG + frame[1:])
                elif first == EIO_CLOSE:
                    self._lost("engine.io close packet")
                    break
        finally:
            self._lost(f"websocket closed ({ws.close_code})")

    def _packet(self, frame: str) -> Awaitable[None] | None:
        kind, namespace, ack_id, data = decode(frame)
        if namespace != self.namespace:
            return None
        if kind == SIO_EVENT:
            pending = None
            if self.on_event is not None and isinstance(data, list) and data:
                pending = self.on_event(data[0], data[1] if len(data) > 1 else None)
            if ack_id is not None:
                return self._answer(ack_id, pending)
            return pending
        elif kind == SIO_ACK:
            handler = self._acks.pop(ack_id, None) if ack_id is not None else None
            if handler is not None:
                handler(data[0] if isinstance(data, list) and data else None)
        elif kind == SIO_CONNECT:
            self.connected = True
            self.sid = data.get("sid") if isinstance(data, dict) else None
            if self._connecting is not None and not self._connecting.done():
                self._connecting.set_result(None)
        elif kind == SIO_CONNECT_ERROR:
            if self._connecting is not None and not self._connecting.done():
                self._connecting.set_exception(ConnectRefused(data))
        elif kind == SIO_DISCONNECT:
            self._lost("namespace disconnected by the server")
        return None

    async def _answer(self, ack_id: int, pending: Awaitable[None] | None) -> None:
        """Ack a server event (any value will do), then finish what on_event started."""
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(encode(SIO_ACK, self.namespace, [{}], ack_id))
        if pending is not None:
            await pending

    def _lost(self, why: str) -> None:
        if not self._closing and self.lost is None:
            self.lost = why
        self.connected = False
        if self._connecting is not None and not self._connecting.done():
            self._connecting.set_exception(Disconnected("the connection closed"))
