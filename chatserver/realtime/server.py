"""The Socket.IO server: python-socketio's, with one checked door for every client packet.

python-socketio decodes whatever a client sends and lets the errors escape to engine.io,
which logs a traceback per packet and keeps the connection open. It also buffers binary
attachments for as many as a packet announces, and dispatches a client event named
`connect` or `disconnect` to the same handlers it calls itself when a connection opens or
closes. Here:

- binary packets (the contract has none) close the connection before anything is buffered;
- a packet that does not decode, or an event that is no [name, ...] list, is a strike, and
  a connection with MAX_BAD_PACKETS strikes is closed;
- client events go to GuardedNamespace.client_event, a door of their own, so no client can
  reach the connect/disconnect handlers; reserved and unknown names get bad_request.
"""

from __future__ import annotations

from typing import Any

import socketio
from socketio import packet

from chatserver.realtime.badinput import BAD_INPUT
from chatserver.realtime.base import GuardedNamespace
from chatserver.realtime.transport import GuardedEngineServer

# Malformed packets a connection may send before it is closed. A real client sends none;
# a few allow for a client bug without letting a client flood us.
MAX_BAD_PACKETS = 3


class GuardedServer(socketio.AsyncServer):  # type: ignore[misc]
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Engine.IO session id -> malformed packets so far.
        self._strikes: dict[str, int] = {}

    def _engineio_server_class(self) -> type[GuardedEngineServer]:
        return GuardedEngineServer

    async def _handle_eio_message(self, eio_sid: str, data: object) -> None:
        if not isinstance(data, str):
            await self._close(eio_sid, "binary Socket.IO data (the contract has none)")
            return
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception:  # the decoder raises ValueError, TypeError, IndexError ...
            await self._strike(eio_sid, "Socket.IO packet that does not decode")
            return
        kind = pkt.packet_type
        if kind == packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif kind == packet.EVENT and _is_event(pkt.data):
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind == packet.ACK and isinstance(pkt.id, int) and isinstance(pkt.data, list):
            # Answers to what the server asked (protocol 2 heartbeats); an unknown id is
            # dropped by the library.
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind in (packet.BINARY_EVENT, packet.BINARY_ACK):
            await self._close(eio_sid, "binary Socket.IO packet (the contract has none)")
        else:
            await self._strike(eio_sid, "Socket.IO packet of no known shape")

    async def _handle_event_internal(
        self,
        server: socketio.AsyncServer,
        sid: str,
        eio_sid: str,
        data: list[Any],
        namespace: str,
        id: int | None,
    ) -> None:
        guard = self.namespace_handlers.get(namespace)
        if not isinstance(guard, GuardedNamespace):
            return
        ack = await guard.client_event(sid, data[0], data[1:])
        if id is not None:
            await self._send_packet(
                eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=id, data=[ack])
            )

    async def _handle_eio_disconnect(self, eio_sid: str, reason: str) -> None:
        self._strikes.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def _strike(self, eio_sid: str, what: str) -> None:
        strikes = self._strikes.get(eio_sid, 0) + 1
        self._strikes[eio_sid] = strikes
        if strikes >= MAX_BAD_PACKETS:
            await self._close(eio_sid, f"{what}, {strikes} times")
        else:
            BAD_INPUT.refused(what)

    async def _close(self, eio_sid: str, what: str) -> None:
        BAD_INPUT.refused(f"{what}; closing the connection")
        self._strikes.pop(eio_sid, None)
        self._binary_packet.pop(eio_sid, None)
        await self.eio.close_session(eio_sid)


def _is_event(data: object) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], str)
