"""The /counselor namespace: logged-in counselors, one room per counselor for all their tabs."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import socketio

from chatserver import protocol
from chatserver.auth import Authenticator, token_from_cookie_header
from chatserver.protocol import FORBIDDEN, ProtocolError
from chatserver.realtime.base import GuardedNamespace
from chatserver.realtime.rooms import COUNSELOR_NAMESPACE, counselor_room, helpline_room
from chatserver.switchboard import Switchboard

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Connection:
    username: str
    display_name: str
    helplines: tuple[str, ...]
    # The session it logged in with: checked again while connected (end_revoked_sessions).
    token: str
    protocol: int = 1


class CounselorNamespace(GuardedNamespace):
    def __init__(self, board: Switchboard, auth: Authenticator) -> None:
        super().__init__(COUNSELOR_NAMESPACE, limits=board.config.limits)
        self.board = board
        self.auth = auth
        self.connections: dict[str, _Connection] = {}
        # Protocol-2 connections whose heartbeat is unanswered: sid -> since (monotonic).
        self._unanswered: dict[str, float] = {}
        self.handlers = {
            "accept": self.accept,
            "availability": self.availability,
            "resume": self.resume,
            "message": self.message,
            "typing": self.typing,
            "end": self.end,
            "transfer": self.transfer,
            "block": self.block,
            "note": self.note,
            "pick": self.pick,
            "wrap_up": self.wrap_up,
        }

    def _bucket_name(self, event: str, data: object) -> str:
        """A counselor runs several chats: each chat gets the human-pace message budget.

        Other events share one budget per connection, so many chats cannot multiply it.
        """
        if event == "message" and isinstance(data, dict):
            chat_id = data.get("chat_id")
            if isinstance(chat_id, str) and len(chat_id) <= protocol.MAX_CHAT_ID_CHARS:
                return f"message:{chat_id}"
        return super()._bucket_name(event, data)

    async def connected(self, sid: str, environ: dict[str, Any], auth: object = None) -> Any:
        version = self.client_protocol(auth)
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str):
            token = token_from_cookie_header(environ.get("HTTP_COOKIE"))
        account = await self.auth.account_for_token(token)
        if account is None:
            raise socketio.exceptions.ConnectionRefusedError(
                "unauthorized", {"code": "unauthorized", "message": "log in first"}
            )
        if account.role != "counselor":
            raise socketio.exceptions.ConnectionRefusedError(
                FORBIDDEN, {"code": FORBIDDEN, "message": "only counselors can use the console"}
            )
        helplines = tuple(self.board.helplines_served(account.helplines))
        self.connections[sid] = _Connection(
            account.username, account.display_name, helplines, token or "", version
        )
        await self.enter_room(sid, counselor_room(account.username))
        for helpline in helplines:
            await self.enter_room(sid, helpline_room(helpline))
        state = await self.board.counselor_attached(
            account.username, account.display_name, account.helplines, sid, confirms=version >= 2
        )
        await self.emit("queue_stats", await self.board.queue_stats(list(helplines)), to=sid)
        availability: dict[str, Any] = {
            "available": state.available,
            "active_chats": len(state.chats),
        }
        if state.away_reason:
            availability["reason"] = state.away_reason  # e.g. an offer went unconfirmed
        await self.emit("availability", availability, to=sid)
        return None

    async def disconnected(self, sid: str) -> None:
        self._unanswered.pop(sid, None)
        connection = self.connections.get(sid)
        if connection is not None:
            await self.board.counselor_detached(connection.username, sid)
            del self.connections[sid]

    async def end_revoked_sessions(self) -> None:
        """Tell and disconnect this process's connections whose session no longer logs in:
        logged out, expired, password or second factor changed, account removed."""
        verdicts: dict[str, str] = {}
        for sid, connection in list(self.connections.items()):
            if connection.token not in verdicts:
                account, reason = await self.auth.check_session(connection.token)
                verdicts[connection.token] = "" if account is not None else reason
            reason = verdicts[connection.token]
            if reason and sid in self.connections:
                message = "your session has ended; log in again"
                # ignore_queue: delivered before the disconnect, not after a trip through Redis.
                await self.emit(
                    "logged_out", {"reason": reason, "message": message}, to=sid, ignore_queue=True
                )
                await self.disconnect(sid)

    def _me(self, sid: str) -> _Connection:
        connection = self.connections.get(sid)
        if connection is None:
            raise ProtocolError(FORBIDDEN, "not logged in")
        # Every counselor event passes here, so each one counts as activity.
        self.board.touch(connection.username)
        return connection

    async def availability(self, sid: str, data: object) -> dict[str, Any]:
        available = protocol.parse_availability(data)
        return await self.board.set_availability(self._me(sid).username, available, sid)

    async def resume(self, sid: str, data: object) -> dict[str, Any]:
        last_seq = protocol.parse_counselor_resume(data)
        return await self.board.counselor_resume(self._me(sid).username, last_seq)

    async def message(self, sid: str, data: object) -> dict[str, Any]:
        request = protocol.parse_message(data, with_chat_id=True)
        return await self.board.counselor_message(self._me(sid).username, request, sid)

    async def typing(self, sid: str, data: object) -> dict[str, Any]:
        chat_id, typing = protocol.parse_typing(data, with_chat_id=True)
        return await self.board.counselor_typing(self._me(sid).username, chat_id, typing)

    async def end(self, sid: str, data: object) -> dict[str, Any]:
        request = protocol.parse_end(data)
        return await self.board.counselor_end(self._me(sid).username, request, sid)

    async def wrap_up(self, sid: str, data: object) -> dict[str, Any]:
        request = protocol.parse_end(data)
        return await self.board.counselor_wrap_up(self._me(sid).username, request)

    async def transfer(self, sid: str, data: object) -> dict[str, Any]:
        request = protocol.parse_transfer(data)
        return await self.board.counselor_transfer(self._me(sid).username, request)

    async def block(self, sid: str, data: object) -> dict[str, Any]:
        chat_id, hours = protocol.parse_block(data, self.board.config.server.block_hours)
        return await self.board.counselor_block(self._me(sid).username, chat_id, hours)

    async def note(self, sid: str, data: object) -> dict[str, Any]:
        chat_id, text = protocol.parse_note(data)
        return await self.board.counselor_note(self._me(sid).username, chat_id, text, sid)

    async def pick(self, sid: str, data: object) -> dict[str, Any]:
        chat_id = protocol.parse_chat_id(data)
        return await self.board.counselor_pick(self._me(sid).username, chat_id)

    async def accept(self, sid: str, data: object) -> dict[str, Any]:
        chat_id = protocol.parse_chat_id(data)
        return await self.board.counselor_accept(self._me(sid).username, chat_id)

    async def heartbeat_round(self) -> None:
        """Ask every protocol-2 console of this process whether it is still there.

        Engine.IO's own ping notices a vanished client only after about 20 s, and a frozen
        console (laptop lid closed, process stopped) keeps its socket open even longer. A
        console that leaves heartbeats unanswered for counselor_liveness_seconds is
        disconnected, so its counselor's grace period starts and nobody new is given to it.
        Each heartbeat also names the latest seq of the counselor's open chats, so a console
        notices a message it missed even when nothing else is sent.
        """
        now = self._monotonic()
        timeout = self.board.config.server.counselor_liveness_seconds
        marks: dict[str, dict[str, int]] = {}
        for sid, connection in list(self.connections.items()):
            if connection.protocol < 2:
                continue
            since = self._unanswered.get(sid)
            if since is not None and now - since > timeout:
                log.warning(
                    "counselor %s: a console left heartbeats unanswered for %d s; disconnected",
                    connection.username,
                    timeout,
                )
                self._unanswered.pop(sid, None)
                await self.disconnect(sid)
                continue
            username = connection.username
            if username not in marks:
                marks[username] = await self.board.counselor_marks(username)
            self._unanswered.setdefault(sid, now)
            await self.emit(
                "heartbeat",
                {"chats": marks[username]},
                to=sid,
                callback=functools.partial(self._heartbeat_answered, sid),
                ignore_queue=True,
            )

    def _heartbeat_answered(self, sid: str, *_: object) -> None:
        self._unanswered.pop(sid, None)
