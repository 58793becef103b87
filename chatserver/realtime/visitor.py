"""The /visitor namespace: anonymous visitors, no login, one chat per connection.

The connect handler reads nothing from the request: no address, no headers. A connection
is tied to a chat only by the random resume token the visitor holds. The one exception is
`start`: it reads the peer address (or a trusted proxy's X-Forwarded-For) only to turn it
into a keyed digest for the in-memory start limiter (start_limit.py), never to keep it.
"""

from __future__ import annotations

from typing import Any

from chatserver import protocol
from chatserver.core.models import ChatState, EndReason
from chatserver.protocol import BAD_REQUEST, NOT_IN_CHAT, RATE_LIMITED, ProtocolError
from chatserver.realtime.base import GuardedNamespace
from chatserver.realtime.rooms import VISITOR_NAMESPACE, chat_room
from chatserver.start_limit import StartLimiter
from chatserver.switchboard import Switchboard

# Waiting visitors are synced every this many rounds (chats being answered every round).
WAITING_SYNC_EVERY = 6


class VisitorNamespace(GuardedNamespace):
    def __init__(self, board: Switchboard) -> None:
        super().__init__(VISITOR_NAMESPACE, limits=board.config.limits)
        self.board = board
        self.start_limiter = StartLimiter(
            board.config.limits.starts_per_address_per_minute,
            board.config.server.trusted_proxies,
        )
        # Closed visits have their own budget of the same size: a visitor who met a closed
        # line can still start a chat once it opens.
        self.closed_visit_limiter = StartLimiter(
            board.config.limits.starts_per_address_per_minute,
            board.config.server.trusted_proxies,
        )
        # This process's connections only: sid -> chat_id.
        self.chat_of: dict[str, str] = {}
        # Connections that speak protocol 2 and so get `sync` heartbeats.
        self.v2: set[str] = set()
        self._sync_rounds = 0
        self.handlers = {
            "start": self.start,
            "resume": self.resume,
            "message": self.message,
            "typing": self.typing,
            "end": self.end,
            "closed_visit": self.closed_visit,
        }

    async def connected(self, sid: str, environ: dict[str, Any], auth: object = None) -> Any:
        version = self.client_protocol(auth)
        if version >= 2:
            self.v2.add(sid)
        return None

    async def disconnected(self, sid: str) -> None:
        self.v2.discard(sid)
        chat_id = self.chat_of.get(sid)
        if chat_id is not None:
            await self.board.visitor_detached(chat_id, sid)
            del self.chat_of[sid]

    def _chat(self, sid: str) -> str:
        chat_id = self.chat_of.get(sid)
        if chat_id is None:
            raise ProtocolError(NOT_IN_CHAT, "start or resume a chat first")
        return chat_id

    async def _attach(self, sid: str, chat_id: str) -> None:
        await self.enter_room(sid, chat_room(chat_id))
        self.chat_of[sid] = chat_id
        await self.board.visitor_attached(chat_id, sid)

    async def start(self, sid: str, data: object) -> dict[str, Any]:
        request = protocol.parse_start(data)
        if sid in self.chat_of:
            raise ProtocolError(BAD_REQUEST, "this connection already has a chat")
        # The address becomes a keyed digest here and goes no further (start_limit.py).
        key = self.start_limiter.client_key(self.server.get_environ(sid, self.namespace))
        wait = self.start_limiter.try_start(key, self.board.clock())
        if wait is not None:
            raise ProtocolError(
                RATE_LIMITED, f"too many new chats from this address; try again in {wait} s"
            )
        ack, chat_id = await self.board.start(request, sid)
        if chat_id is not None:
            self.chat_of[sid] = chat_id
            await self.board.visitor_attached(chat_id, sid)
        return ack

    async def closed_visit(self, sid: str, data: object) -> dict[str, Any]:
        """(v2 addition) The widget showed the closed screen; the server decides if it counts."""
        request = protocol.parse_start(data)
        limiter = self.closed_visit_limiter
        wait = limiter.try_start(
            limiter.client_key(self.server.get_environ(sid, self.namespace)), self.board.clock()
        )
        if wait is not None:
            raise ProtocolError(RATE_LIMITED, f"too many closed visits; try again in {wait} s")
        return await self.board.closed_visit(request.helpline)

    async def resume(self, sid: str, data: object) -> dict[str, Any]:
        request = protocol.parse_visitor_resume(data)
        chat = await self.board.find_visitor_chat(request.token)
        if isinstance(chat, EndReason):
            return {"status": "ended", "reason": chat.value}
        current = self.chat_of.get(sid)
        if current is not None and current != chat.chat_id:
            raise ProtocolError(BAD_REQUEST, "this connection already has another chat")
        if current is None:
            # Join the room before reading the log: a message sent in between then arrives
            # twice rather than never, and the client drops the seq it already has.
            await self._attach(sid, chat.chat_id)
        return await self.board.visitor_resume_state(chat, request.last_seq)

    async def message(self, sid: str, data: object) -> dict[str, Any]:
        request = protocol.parse_message(data, with_chat_id=False)
        return await self.board.visitor_message(self._chat(sid), request, sid)

    async def typing(self, sid: str, data: object) -> dict[str, Any]:
        _, typing = protocol.parse_typing(data, with_chat_id=False)
        return await self.board.visitor_typing(self._chat(sid), typing)

    async def end(self, sid: str, data: object) -> dict[str, Any]:
        protocol.parse_empty(data)
        return await self.board.visitor_end(self._chat(sid), sid)

    async def sync_round(self) -> None:
        """Tell each protocol-2 visitor of this process where their chat stands.

        Events between processes travel over fire-and-forget pub/sub; a lost `assigned` or a
        lost last message would otherwise go unnoticed until the other side wrote again. A
        client whose view is behind (`status` or `last_seq`) resumes. Chats being answered
        are synced every round; waiting ones, whose lost events are only queue positions,
        every WAITING_SYNC_EVERY rounds, so a long queue stays cheap.
        """
        self._sync_rounds += 1
        include_waiting = self._sync_rounds % WAITING_SYNC_EVERY == 0
        local = {sid: self.chat_of[sid] for sid in self.v2 if sid in self.chat_of}
        if not local:
            return
        marks = await self.board.store.chat_marks(sorted(set(local.values())))
        for sid, chat_id in local.items():
            mark = marks.get(chat_id)
            if mark is None:
                status, last_seq = "ended", 0
            elif mark.state is ChatState.CHATTING:
                status, last_seq = "chatting", mark.last_seq
            elif include_waiting:
                status, last_seq = "queued", mark.last_seq
            else:
                continue
            await self.emit(
                "sync", {"status": status, "last_seq": last_seq}, to=sid, ignore_queue=True
            )
