"""Sends the switchboard's events to the right rooms."""

from __future__ import annotations

from typing import Any

import socketio

from chatserver.realtime.rooms import (
    COUNSELOR_NAMESPACE,
    VISITOR_NAMESPACE,
    chat_room,
    counselor_room,
    helpline_room,
)


class SocketNotifier:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def to_visitor(
        self, chat_id: str, event: str, data: dict[str, Any], skip_sid: str | None = None
    ) -> None:
        await self.sio.emit(
            event, data, to=chat_room(chat_id), skip_sid=skip_sid, namespace=VISITOR_NAMESPACE
        )

    async def to_counselor(
        self, username: str, event: str, data: dict[str, Any], skip_sid: str | None = None
    ) -> None:
        await self.sio.emit(
            event,
            data,
            to=counselor_room(username),
            skip_sid=skip_sid,
            namespace=COUNSELOR_NAMESPACE,
        )

    async def to_counselors_of(self, helpline: str, event: str, data: dict[str, Any]) -> None:
        await self.sio.emit(event, data, to=helpline_room(helpline), namespace=COUNSELOR_NAMESPACE)

    async def join_visitor(self, sid: str, chat_id: str) -> None:
        await self.sio.enter_room(sid, chat_room(chat_id), namespace=VISITOR_NAMESPACE)

    async def leave_visitor(self, sid: str, chat_id: str) -> None:
        await self.sio.leave_room(sid, chat_room(chat_id), namespace=VISITOR_NAMESPACE)

    async def to_visitor_connection(self, sid: str, event: str, data: dict[str, Any]) -> None:
        await self.sio.emit(event, data, to=sid, namespace=VISITOR_NAMESPACE, ignore_queue=True)
