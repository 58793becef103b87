"""The switchboard: carries out visitor and counselor requests against the store.

It is the one place where a request becomes state changes, counts and notifications. The
decisions themselves live in core/ (pure) and in the store's atomic steps; the Socket.IO
namespaces only validate payloads and call in here. Nothing here ever logs message text.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, Protocol, cast

from chatserver import protocol, texts
from chatserver.config import Config, HelplineConfig
from chatserver.core import counting
from chatserver.core.admission import admission
from chatserver.core.estimate import estimated_wait_s
from chatserver.core.models import Chat, ChatState, CounselorState, EndReason, Message, Sender
from chatserver.crypto import hash_token, new_token
from chatserver.hours import OpeningHours, opening_hours_by_helpline
from chatserver.process_metrics import Counters
from chatserver.protocol import (
    BAD_REQUEST,
    CHAT_FULL,
    NOT_IN_CHAT,
    RATE_LIMITED,
    UNAVAILABLE,
    UNKNOWN_HELPLINE,
    UNKNOWN_TOKEN,
    EndRequest,
    MessageRequest,
    ProtocolError,
    StartRequest,
    Tags,
    TransferRequest,
    message_payload,
)
from chatserver.store.base import (
    COUNSELOR,
    VISITOR,
    Appended,
    AppendLimits,
    Assignment,
    Connection,
    Refusal,
    Refused,
    Store,
    text_bytes,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# How long an ended chat's record stays so that a late resume is told "ended".
ENDED_RECORD_SECONDS = 600
# How long a counselor may take to record the outcome of a chat the visitor left first
# (`wrap_up`); after that the chat counts as outcome_unspecified, so it still has one.
WRAP_UP_SECONDS = 12 * 3600

# A process that misses heartbeats for PROCESS_TTL is taken for dead with its connections.
# That is also how long a dead process's counselors can still look available.
HEARTBEAT_EVERY = timedelta(seconds=1)
PROCESS_TTL = timedelta(seconds=5)

# Queue announcements wait this long so that a burst of changes is announced once.
ANNOUNCE_DELAY_SECONDS = 0.1

_VISITOR_GONE = "visitor-gone:"
_COUNSELOR_GONE = "counselor-gone:"
_FORGET_ENDED = "forget-ended:"
_OFFER = "offer:"
_WRAP_UP = "wrap-up:"  # + chat_id + ":" + username (chat ids hold no ':')


class Notifier(Protocol):
    """Where the switchboard sends events; the realtime layer maps these to rooms."""

    async def to_visitor(
        self, chat_id: str, event: str, data: dict[str, Any], skip_sid: str | None = None
    ) -> None: ...

    async def to_counselor(
        self, username: str, event: str, data: dict[str, Any], skip_sid: str | None = None
    ) -> None: ...

    async def to_counselors_of(self, helpline: str, event: str, data: dict[str, Any]) -> None: ...

    async def to_visitor_connection(self, sid: str, event: str, data: dict[str, Any]) -> None:
        """One of this process's own visitor connections; nothing crosses the bus."""

    async def join_visitor(self, sid: str, chat_id: str) -> None:
        """Let this connection receive the chat's events from now on."""

    async def leave_visitor(self, sid: str, chat_id: str) -> None: ...


class Switchboard:
    def __init__(self, config: Config, store: Store, notifier: Notifier, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.notifier = notifier
        # UTC inside: subtracting two datetimes that share a ZoneInfo ignores DST changes.
        self.clock: Clock = lambda: clock().astimezone(UTC)
        self.hours: dict[str, OpeningHours] = opening_hours_by_helpline(config)
        self._tasks: set[asyncio.Task[None]] = set()
        # Names this process's connections in the store; they live while it heartbeats.
        self.process_id = secrets.token_hex(8)
        self._last_heartbeat: datetime | None = None
        # This process's own connections: sid -> (VISITOR, chat_id) or (COUNSELOR, username).
        self._local: dict[str, tuple[str, str]] = {}
        self._announce_pending: set[str] = set()
        self.counters = Counters()
        # This process's visitor connections -> the (position, estimate) they were last told.
        self._told: dict[str, tuple[int, int]] = {}
        # Counselor -> their last event on this process, for the idle timer. In memory per
        # process: with several processes, each judges only its own connections' activity.
        self._last_activity: dict[str, datetime] = {}

    # --- helpers ---------------------------------------------------------------------

    def helpline(self, helpline_id: str) -> HelplineConfig:
        helpline = self.config.helpline(helpline_id)
        if helpline is None:
            raise ProtocolError(UNKNOWN_HELPLINE, "no such helpline")
        return helpline

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run follow-up work after the current ack has been queued."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def reload(self, config: Config) -> None:
        """Serve a new configuration from now on: helplines, hours, texts, outcomes, tags.

        Config and hours change in one step (nothing awaits in between), so no request sees
        the new helplines with the old hours. A helpline dropped from the file keeps its
        hours until its last chat ends; new chats for it are refused as unknown.
        """
        hours = {**self.hours, **opening_hours_by_helpline(config)}
        old = self.config
        self.config, self.hours = config, hours
        if config.limits != old.limits or config.server != old.server:
            log.warning(
                "[server] and [limits] changes that the connection layer reads at start "
                "(connection rates, start limit, trusted proxies) take effect at the next restart",
                extra={"event": "reload_needs_restart"},
            )
        for helpline in config.helplines:
            self.request_announce(helpline.id)

    async def end_chats_for_restart(self) -> int:
        """Without shared state a restart loses every chat: end each one, saying so.

        The visitor reads, in their language, that the service restarts and how to come
        back; the chat is counted like any ended chat. Returns how many chats were ended.
        """
        chat_ids = {chat_id for kind, chat_id in self._local.values() if kind == VISITOR}
        for counselor in await self.store.counselors():
            chat_ids.update(counselor.chats)
        ended = 0
        for chat_id in sorted(chat_ids):
            chat = await self.store.get_chat(chat_id)
            if chat is None or chat.state is ChatState.ENDED:
                continue
            text = texts.restart_message(chat.lang)
            await self._system_message(chat, text)
            ended += await self._end(chat_id, EndReason.RESTART, visitor_extra={"message": text})
        return ended

    async def drain(self) -> None:
        """Wait for spawned follow-ups (used at shutdown and by tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _count(self, helpline: str, now: datetime, *names: str) -> None:
        day = counting.local_day(now, self.config.timezone)
        await self.store.add_counts(helpline, day, {name: 1 for name in names})

    async def _count_demand(self, helpline: str, now: datetime, *, open_: bool) -> None:
        """One request in the hour-of-week demand of the local month (core/counting.py)."""
        tz = self.config.timezone
        cell = counting.demand_cell(now, tz, open_=open_)
        await self.store.add_demand(helpline, counting.local_month(now, tz), {cell: 1})

    async def _slots(self, helpline: HelplineConfig) -> tuple[int, int]:
        """(free, busy) chat slots of the helpline's available counselors."""
        free = busy = 0
        for counselor in await self.store.counselors():
            if counselor.online and counselor.available and counselor.serves(helpline.id):
                busy += len(counselor.chats)
                free += max(0, helpline.max_chats_per_counselor - len(counselor.chats))
        return free, busy

    async def _estimate(self, helpline: HelplineConfig, position: int) -> int:
        return estimated_wait_s(position, *await self._slots(helpline))

    # --- visitors --------------------------------------------------------------------

    async def start(self, request: StartRequest, sid: str) -> tuple[dict[str, Any], str | None]:
        """A visitor asks for a chat; returns the ack and the new chat's id when queued.

        The connection joins the chat's room before the chat exists in the store: from that
        moment any process may assign it, and an `assigned` sent to an empty room is lost.
        """
        helpline = self.helpline(request.helpline)
        now = self.clock()
        session_hash = hash_token(request.session) if request.session else None
        if session_hash and await self.store.is_blocked(session_hash, now):
            self.counters.starts.labels(helpline.id, "blocked").inc()
            return {"status": "blocked", "message": texts.blocked_message(request.lang)}, None
        decision = admission(helpline, self.hours[helpline.id], now)
        if not decision.open:
            self.counters.starts.labels(helpline.id, "closed").inc()
            self.counters.closed_attempts.labels(helpline.id).inc()
            await self._count(helpline.id, now, counting.CLOSED_ATTEMPTS)
            await self._count_demand(helpline.id, now, open_=False)
            return {
                "status": "closed",
                "opens_at": protocol.iso(decision.opens_at),
                "message": texts.closed_message(
                    helpline.name, decision.opens_at, self.config.timezone, request.lang
                ),
            }, None
        token = new_token()
        chat_id = secrets.token_urlsafe(12)
        chat = Chat(
            chat_id=chat_id,
            helpline=helpline.id,
            token_hash=hash_token(token),
            lang=request.lang,
            state=ChatState.WAITING,
            requested_at=now,
            enqueued_at=now,
            session_hash=session_hash,
        )
        await self.notifier.join_visitor(sid, chat_id)
        position = await self.store.create_chat(chat, helpline.max_queue)
        if position is None:
            await self.notifier.leave_visitor(sid, chat_id)
            self.counters.starts.labels(helpline.id, "full").inc()
            await self._count(helpline.id, now, counting.REJECTED_FULL)
            await self._count_demand(helpline.id, now, open_=True)
            return {
                "status": "full",
                "message": texts.full_message(helpline.name, request.lang),
            }, None
        self.counters.starts.labels(helpline.id, "queued").inc()
        # Debug lines name the helpline and numbers only: never a chat, token or text.
        log.debug(
            "chat queued for %s",
            helpline.id,
            extra={"event": "chat_queued", "counts": {"position": position}},
        )
        await self._count(helpline.id, now, counting.REQUESTED)
        await self._count_demand(helpline.id, now, open_=True)
        self.spawn(self.try_assign(helpline.id))
        self.spawn(self.announce_stats(helpline.id))
        ack = {
            "status": "queued",
            "token": token,
            "chat_id": chat.chat_id,
            "position": position,
            "estimated_wait_s": await self._estimate(helpline, position),
        }
        return ack, chat.chat_id

    async def closed_visit(self, helpline_id: str) -> dict[str, Any]:
        """The widget showed a visitor the closed screen: one closed attempt, if it is closed.

        The server decides from its own clock and opening hours, so a browser cannot raise
        closed_attempts while the line admits visitors. The widget sends this once per visit.
        """
        helpline = self.helpline(helpline_id)
        now = self.clock()
        if admission(helpline, self.hours[helpline.id], now).open:
            return {"counted": False}
        await self._count(helpline.id, now, counting.CLOSED_ATTEMPTS)
        await self._count_demand(helpline.id, now, open_=False)
        return {"counted": True}

    async def find_visitor_chat(self, token: str) -> Chat | EndReason:
        """The token's open chat, or why it ended while that is remembered."""
        token_hash = hash_token(token)
        if await self.store.is_blocked(token_hash, self.clock()):
            return EndReason.BLOCKED
        chat = await self.store.find_chat_by_token(token_hash)
        if chat is not None:
            return chat
        reason = await self.store.ended_reason(token_hash)
        if reason is None:
            raise ProtocolError(UNKNOWN_TOKEN, "this chat is unknown or expired")
        return reason

    async def visitor_resume_state(self, chat: Chat, last_seq: int) -> dict[str, Any]:
        """What a returning visitor needs; called after their connection joined the chat."""
        chat_id = chat.chat_id
        current = await self.store.get_chat(chat_id)
        if current is None:
            reason = await self.store.ended_reason(chat.token_hash)
            return {"status": "ended", "reason": reason.value if reason else None}
        chat = current
        page, more = await self._resume_page(chat_id, last_seq)
        messages = [message_payload(m) for m in page]
        if chat.state is not ChatState.CHATTING:
            # An offered chat is first in line until its counselor's console confirms it.
            position = 1 if chat.state is ChatState.OFFERED else await self._position(chat)
            helpline = self.helpline(chat.helpline)
            return {
                "status": "queued",
                "chat_id": chat.chat_id,
                "position": position,
                "estimated_wait_s": await self._estimate(helpline, position),
                "messages": messages,
                "more": more,
            }
        return {
            "status": "chatting",
            "chat_id": chat.chat_id,
            "counselor_name": chat.counselor_name,
            "messages": messages,
            "more": more,
        }

    async def _resume_page(self, chat_id: str, last_seq: int) -> tuple[list[Message], bool]:
        """One bounded page of the log after last_seq, and whether more follows.

        Bounded so that many resumes of a long chat cannot each copy the whole log.
        """
        limits = self.config.limits
        fetched = await self.store.messages_since(chat_id, last_seq, limits.resume_max_messages + 1)
        page: list[Message] = []
        size = 0
        for message in fetched[: limits.resume_max_messages]:
            size += text_bytes(message.text)
            if page and size > limits.resume_max_bytes:
                break
            page.append(message)
        return page, len(page) < len(fetched)

    async def _position(self, chat: Chat) -> int:
        return await self.store.queue_position(chat.helpline, chat.chat_id) or 0

    async def visitor_attached(self, chat_id: str, sid: str) -> None:
        await self._ensure_heartbeat()
        self._local[sid] = (VISITOR, chat_id)
        connections = await self.store.visitor_connected(chat_id, self._connection(sid))
        await self.store.clear_deadline(_VISITOR_GONE + chat_id)
        chat = await self.store.get_chat(chat_id)
        if connections == 1 and chat and chat.with_counselor and chat.counselor:
            await self.notifier.to_counselor(
                chat.counselor, "visitor_presence", {"chat_id": chat_id, "connected": True}
            )

    async def visitor_detached(self, chat_id: str, sid: str) -> None:
        self._local.pop(sid, None)
        self._told.pop(sid, None)
        if await self.store.visitor_disconnected(chat_id, self._connection(sid)) > 0:
            return
        await self._visitor_left(chat_id)

    async def _visitor_left(self, chat_id: str) -> None:
        """The visitor's last connection is gone: their grace period starts."""
        chat = await self.store.get_chat(chat_id)
        if chat is None or chat.state is ChatState.ENDED:
            return
        await self.store.set_deadline(_VISITOR_GONE + chat_id, self.clock() + self._grace(chat))
        if chat.with_counselor and chat.counselor:
            await self.notifier.to_counselor(
                chat.counselor, "visitor_presence", {"chat_id": chat_id, "connected": False}
            )

    def _grace(self, chat: Chat) -> timedelta:
        """A waiting visitor who never wrote keeps their place only briefly.

        So connections that each `start` and vanish cannot hold a helpline's queue full for
        the whole grace period; whoever wrote something keeps the normal grace.
        """
        server = self.config.server
        seconds = server.visitor_grace_seconds
        if chat.state is ChatState.WAITING and not chat.visitor_wrote:
            seconds = min(seconds, server.silent_visitor_grace_seconds)
        return timedelta(seconds=seconds)

    def _append_limits(self, sender: Sender) -> AppendLimits:
        """The chat's caps for everyone; a visitor also spends the chat's shared budget."""
        limits = self.config.limits
        return AppendLimits(
            max_messages=limits.chat_max_messages,
            max_bytes=limits.chat_max_bytes,
            rate=limits.visitor_message_rate if sender is Sender.VISITOR else None,
            burst=limits.visitor_message_burst,
        )

    async def _refuse(self, chat: Chat, refused: Refused) -> NoReturn:
        if refused.reason is Refusal.RATE:
            raise ProtocolError(RATE_LIMITED, "too many messages in this chat; slow down")
        if refused.first:
            await self._tell_chat_full(chat)
        raise ProtocolError(CHAT_FULL, "this chat has reached its maximum length")

    async def _tell_chat_full(self, chat: Chat) -> None:
        """Once per chat, both sides learn why messages are refused (past the cap)."""
        message = await self._system_message(chat, texts.chat_full_message(chat.lang))
        if message is not None and chat.with_counselor and chat.counselor:
            await self.notifier.to_counselor(
                chat.counselor, "message", message_payload(message, chat.chat_id)
            )

    async def visitor_message(
        self, chat_id: str, request: MessageRequest, sid: str | None
    ) -> dict[str, Any]:
        chat = await self.store.get_chat(chat_id)
        if chat is None or chat.state is ChatState.ENDED:
            raise ProtocolError(NOT_IN_CHAT, "this chat has ended")
        appended = await self.store.append_message(
            chat_id,
            Sender.VISITOR,
            request.text,
            request.client_msg_id,
            self.clock(),
            self._append_limits(Sender.VISITOR),
        )
        if appended is None:
            raise ProtocolError(NOT_IN_CHAT, "this chat has ended")
        if isinstance(appended, Refused):
            await self._refuse(chat, appended)
        message = appended.message
        if appended.new:
            self.counters.messages_relayed.labels(VISITOR).inc()
            await self.notifier.to_visitor(
                chat_id, "message", message_payload(message), skip_sid=sid
            )
            if chat.with_counselor and chat.counselor:
                await self.notifier.to_counselor(
                    chat.counselor, "message", message_payload(message, chat_id)
                )
        return {"seq": message.seq, "ts": protocol.utc_iso(message.ts)}

    async def visitor_typing(self, chat_id: str, typing: bool) -> dict[str, Any]:
        chat = await self.store.get_chat(chat_id)
        if chat is None or chat.state is ChatState.ENDED:
            raise ProtocolError(NOT_IN_CHAT, "this chat has ended")
        if chat.with_counselor and chat.counselor:
            await self.notifier.to_counselor(
                chat.counselor, "typing", {"chat_id": chat_id, "typing": typing}
            )
        return {"ok": True}

    async def visitor_end(self, chat_id: str, sid: str | None) -> dict[str, Any]:
        ended = await self._end(chat_id, EndReason.VISITOR, skip_sid=sid)
        if not ended:
            raise ProtocolError(NOT_IN_CHAT, "this chat has already ended")
        return {"ok": True}

    # --- counselors ------------------------------------------------------------------

    def touch(self, username: str) -> None:
        """Any counselor event counts as activity for the idle timer."""
        self._last_activity[username] = self.clock()

    async def counselor_attached(
        self,
        username: str,
        display_name: str,
        helplines: tuple[str, ...],
        sid: str,
        confirms: bool = False,
    ) -> CounselorState:
        await self._ensure_heartbeat()
        self.touch(username)
        self._local[sid] = (COUNSELOR, username)
        served = tuple(self.helplines_served(helplines))
        state = await self.store.counselor_connected(
            username, display_name, served, self._connection(sid), self.clock(), confirms
        )
        # Staff only: visitors' comings and goings are never logged, not even without names.
        log.info(
            "counselor %s connected (%d connections)",
            username,
            state.connections,
            extra={"event": "counselor_connected", "counts": {"connections": state.connections}},
        )
        await self.store.clear_deadline(_COUNSELOR_GONE + username)
        for helpline in self._served(state):
            self.spawn(self.try_assign(helpline.id))
        return state

    async def counselor_detached(self, username: str, sid: str) -> None:
        self._local.pop(sid, None)
        if all(subject != username for _, subject in self._local.values()):
            self._last_activity.pop(username, None)
        state = await self.store.counselor_disconnected(
            username, self._connection(sid), self.clock()
        )
        if state is None or state.online:
            return
        await self._counselor_left(state)

    async def _counselor_left(self, state: CounselorState) -> None:
        """The counselor's last connection is gone: their grace period starts."""
        username = state.username
        log.info(
            "counselor %s lost their last connection; grace period starts",
            username,
            extra={"event": "counselor_grace_started"},
        )
        grace = timedelta(seconds=self.config.server.counselor_grace_seconds)
        await self.store.set_deadline(_COUNSELOR_GONE + username, self.clock() + grace)
        # An offer only means something to a live console: its visitor goes back to the
        # front now rather than wait for a reconnect while a colleague may be free.
        marks = await self.store.chat_marks(sorted(state.chats))
        for chat_id, mark in marks.items():
            if mark.state is ChatState.OFFERED:
                await self._withdraw_offer(chat_id, unconfirmed=False)
        for helpline in self._served(state):
            self.request_announce(helpline.id)

    def _served(self, state: CounselorState) -> list[HelplineConfig]:
        return [h for h in self.config.helplines if state.serves(h.id)]

    async def set_availability(
        self, username: str, available: bool, sid: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        state = await self.store.set_available(username, available, self.clock(), reason)
        if state is None:
            raise ProtocolError(protocol.FORBIDDEN, "not connected as a counselor")
        result: dict[str, Any] = {"available": state.available, "active_chats": len(state.chats)}
        if reason is not None:
            result["reason"] = reason
        # The counselor's other tabs show the same switch.
        await self.notifier.to_counselor(username, "availability", result, skip_sid=sid)
        for helpline in self._served(state):
            if available:
                self.spawn(self.try_assign(helpline.id))
            else:
                self.request_announce(helpline.id)
        return result

    async def counselor_marks(self, username: str) -> dict[str, int]:
        """The latest seq of each chat the counselor holds (offered or answered)."""
        state = await self.store.get_counselor(username)
        if state is None or not state.chats:
            return {}
        marks = await self.store.chat_marks(sorted(state.chats))
        return {
            chat_id: mark.last_seq
            for chat_id, mark in marks.items()
            if mark.state in (ChatState.OFFERED, ChatState.CHATTING)
        }

    async def counselor_resume(self, username: str, last_seq: dict[str, int]) -> dict[str, Any]:
        state = await self.store.get_counselor(username)
        chats = []
        now = self.clock()
        for chat_id in sorted(state.chats if state else ()):
            chat = await self.store.get_chat(chat_id)
            if chat is None or not chat.with_counselor or chat.counselor != username:
                continue
            messages, more = await self._resume_page(chat_id, last_seq.get(chat_id, 0))
            payload = await self._assigned_payload(chat, messages, now)
            chats.append({**payload, "more": more})
        return {"chats": chats}

    async def _assigned_payload(
        self, chat: Chat, messages: list[Message], now: datetime
    ) -> dict[str, Any]:
        assigned_at = chat.assigned_at or now
        return {
            "chat_id": chat.chat_id,
            "helpline": chat.helpline,
            "waited_s": max(0, int((assigned_at - chat.enqueued_at).total_seconds())),
            "lang": chat.lang,
            # False until the console confirmed the chat with `accept` (protocol 2).
            "accepted": chat.state is ChatState.CHATTING,
            "messages": [message_payload(m, chat.chat_id) for m in messages],
            # From the counselor who transferred the chat; the visitor never sees it.
            "handover_note": await self.store.note(chat.chat_id),
        }

    async def _own_chat(self, username: str, chat_id: str) -> Chat:
        chat = await self.store.get_chat(chat_id)
        if chat is None or chat.state is not ChatState.CHATTING or chat.counselor != username:
            raise ProtocolError(NOT_IN_CHAT, "this is not one of your open chats")
        return chat

    async def counselor_message(
        self, username: str, request: MessageRequest, sid: str | None
    ) -> dict[str, Any]:
        chat = await self._own_chat(username, request.chat_id)
        appended = await self.store.append_message(
            request.chat_id,
            Sender.COUNSELOR,
            request.text,
            request.client_msg_id,
            self.clock(),
            self._append_limits(Sender.COUNSELOR),
        )
        if appended is None:
            raise ProtocolError(NOT_IN_CHAT, "this chat has ended")
        if isinstance(appended, Refused):
            await self._refuse(chat, appended)
        message = appended.message
        if appended.new:
            self.counters.messages_relayed.labels(COUNSELOR).inc()
            await self.notifier.to_visitor(request.chat_id, "message", message_payload(message))
            await self.notifier.to_counselor(
                username, "message", message_payload(message, request.chat_id), skip_sid=sid
            )
        return {"seq": message.seq, "ts": protocol.utc_iso(message.ts)}

    async def counselor_typing(self, username: str, chat_id: str, typing: bool) -> dict[str, Any]:
        await self._own_chat(username, chat_id)
        await self.notifier.to_visitor(chat_id, "typing", {"typing": typing})
        return {"ok": True}

    async def counselor_end(
        self, username: str, request: EndRequest, sid: str | None
    ) -> dict[str, Any]:
        """End the chat and count its outcome and topics; a bad tag leaves the chat open."""
        chat = await self._own_chat(username, request.chat_id)
        helpline = self.helpline(chat.helpline)
        tags = protocol.parse_tags(
            request.payload,
            helpline.outcome_ids(),
            helpline.topic_ids(),
            outcome_required=False,
        )
        if not await self._end(request.chat_id, EndReason.COUNSELOR, skip_sid=sid):
            raise ProtocolError(NOT_IN_CHAT, "this chat has already ended")
        await self._count(helpline.id, self.clock(), *tags.counters())
        return {"ok": True}

    async def counselor_wrap_up(self, username: str, request: EndRequest) -> dict[str, Any]:
        """Record the one outcome of a chat the visitor left first (`outcome: null` = none).

        Valid once, only for the counselor who answered it; counted on the local date the chat
        ended, so a day's outcomes match its answered chats.
        """
        if "outcome" not in request.payload:
            raise ProtocolError(BAD_REQUEST, "'outcome' is required (null for no outcome)")
        awaited = await self.store.take_awaited_outcome(username, request.chat_id)
        if awaited is None:
            raise ProtocolError(NOT_IN_CHAT, "no outcome is awaited for this chat")
        helpline_id, day = awaited
        helpline = self.helpline(helpline_id)
        try:
            tags = protocol.parse_tags(
                request.payload,
                helpline.outcome_ids(),
                helpline.topic_ids(),
                outcome_required=False,
            )
        except ProtocolError:  # a bad tag: the outcome is still owed
            ttl = WRAP_UP_SECONDS + 60
            await self.store.await_outcome(username, request.chat_id, helpline_id, day, ttl)
            raise
        await self.store.clear_deadline(_wrap_up_key(request.chat_id, username))
        counters = counting.tag_counters(tags.outcome, tags.topics, explicit_none=True)
        await self.store.add_counts(helpline_id, day, {name: 1 for name in counters})
        return {"ok": True}

    async def _await_outcome(self, chat: Chat, username: str, now: datetime) -> None:
        day = counting.local_day(now, self.config.timezone)
        # The store keeps the record a minute past the deadline that settles it.
        ttl = WRAP_UP_SECONDS + 60
        await self.store.await_outcome(username, chat.chat_id, chat.helpline, day, ttl)
        await self.store.set_deadline(
            _wrap_up_key(chat.chat_id, username), now + timedelta(seconds=WRAP_UP_SECONDS)
        )

    async def _wrap_up_ran_out(self, subject: str) -> None:
        chat_id, _, username = subject.partition(":")
        awaited = await self.store.take_awaited_outcome(username, chat_id)
        if awaited is not None:
            helpline_id, day = awaited
            await self.store.add_counts(helpline_id, day, {counting.OUTCOME_UNSPECIFIED: 1})

    async def tally(self, helpline_id: str, channel: str, tags: Tags) -> None:
        """A phone call or e-mail the counselor handled outside the chat: counts only."""
        await self._count(helpline_id, self.clock(), f"tally_{channel}", *tags.counters())

    async def counselor_transfer(self, username: str, request: TransferRequest) -> dict[str, Any]:
        """Hand an open chat to another helpline's queue (front) or to a named colleague."""
        chat = await self._own_chat(username, request.chat_id)
        now = self.clock()
        if request.helpline is not None:
            target = self.helpline(request.helpline)
            if not admission(target, self.hours[target.id], now).open:
                raise ProtocolError(UNAVAILABLE, f"{target.name} takes no new chats now")
        if request.note:
            # Before the move: another process may assign the chat the moment it is queued.
            # Appended to the chat's internal notes, so the colleague gets both.
            earlier = await self.store.note(chat.chat_id)
            notes = "\n\n".join(filter(None, [earlier, request.note]))
            await self.store.set_note(chat.chat_id, notes)
        if request.helpline is not None:
            moved = await self.store.transfer_to_helpline(chat.chat_id, username, target.id, now)
            if moved is None:
                raise ProtocolError(NOT_IN_CHAT, "this is not one of your open chats")
            await self._system_message(moved, texts.transferred_message(moved.lang, target.name))
            self.request_announce(target.id)
            self.spawn(self.try_assign(target.id))
        else:
            helpline = self.helpline(chat.helpline)
            colleague = cast(str, request.colleague)
            handed = await self.store.transfer_to_counselor(
                chat.chat_id, username, colleague, helpline.max_chats_per_counselor, now
            )
            if handed is None:
                raise ProtocolError(UNAVAILABLE, "that colleague is not available for this chat")
            await self._announce_assignment(handed)
        await self._count(chat.helpline, now, counting.TRANSFERRED)
        await self.notifier.to_counselor(
            username, "ended", {"chat_id": chat.chat_id, "reason": "transferred"}
        )
        self.spawn(self.try_assign(chat.helpline))
        return {"ok": True}

    async def counselor_block(self, username: str, chat_id: str, hours: int) -> dict[str, Any]:
        """End an abusive chat and refuse its token and browser tab for a while.

        Only hashes and an expiry are kept: nothing that says who the visitor is.
        """
        chat = await self._own_chat(username, chat_id)
        now = self.clock()
        hashes = [chat.token_hash] + ([chat.session_hash] if chat.session_hash else [])
        await self.store.block(hashes, now + timedelta(hours=hours), now)
        if not await self._end(chat_id, EndReason.BLOCKED):
            raise ProtocolError(NOT_IN_CHAT, "this chat has already ended")
        await self._count(chat.helpline, now, counting.BLOCKED)
        return {"ok": True}

    async def counselor_note(
        self, username: str, chat_id: str, text: str, sid: str | None
    ) -> dict[str, Any]:
        """Replace the chat's internal notes: sealed with the chat's key, shredded with it.

        The visitor never sees them; a colleague who takes the chat over gets them as the
        handover note. The counselor's other tabs get the new text.
        """
        await self._own_chat(username, chat_id)
        await self.store.set_note(chat_id, text)
        await self.notifier.to_counselor(
            username, "note", {"chat_id": chat_id, "text": text}, skip_sid=sid
        )
        return {"ok": True}

    async def counselor_pick(self, username: str, chat_id: str) -> dict[str, Any]:
        """A counselor of a pick-from-queue helpline takes this waiting chat.

        The same atomic offer as automatic assignment, narrowed to that chat and counselor,
        so two counselors picking one visitor never both get it.
        """
        chat = await self.store.get_chat(chat_id)
        if chat is None or chat.state is not ChatState.WAITING:
            raise ProtocolError(UNAVAILABLE, "this chat no longer waits")
        helpline = self.helpline(chat.helpline)
        state = await self.store.get_counselor(username)
        if helpline.assignment != "pick" or state is None or not state.serves(helpline.id):
            raise ProtocolError(UNAVAILABLE, "you cannot pick chats from this queue")
        if not self.hours[helpline.id].is_open(self.clock()):
            raise ProtocolError(UNAVAILABLE, f"{helpline.name} is closed")
        assignment = await self.store.assign_next(
            helpline.id,
            helpline.max_chats_per_counselor,
            self.clock(),
            chat_id=chat_id,
            username=username,
        )
        if assignment is None:
            raise ProtocolError(UNAVAILABLE, "taken by a colleague, or you are away or full")
        self.counters.assignments.inc()
        await self._announce_assignment(assignment)
        self.request_announce(helpline.id)
        return {"ok": True}

    async def send_hint(self, username: str, text: str, sender: str) -> bool:
        """A manager's private hint to a counselor; False when no served helpline allows it.

        Nothing of any chat is read or sent: only the hint and who sent it.
        """
        state = await self.store.get_counselor(username)
        if state is None or not state.online:
            return False
        allowed = [h for h in self.config.helplines if h.supervisor_hints and state.serves(h.id)]
        if not allowed:
            return False
        await self.notifier.to_counselor(username, "hint", {"text": text, "from": sender})
        return True

    async def _system_message(self, chat: Chat, text: str) -> Message | None:
        appended = await self.store.append_message(
            chat.chat_id, Sender.SYSTEM, text, None, self.clock()
        )
        if not isinstance(appended, Appended):
            return None
        await self.notifier.to_visitor(chat.chat_id, "message", message_payload(appended.message))
        return appended.message

    async def queue_stats(self, helplines: list[str]) -> dict[str, Any]:
        now = self.clock()
        stats = {}
        for helpline_id in helplines:
            summary = await self.store.queue_summary(helpline_id)
            oldest = summary.oldest_enqueued_at
            longest = (now - oldest).total_seconds() if oldest else 0
            hours = self.hours[helpline_id]
            stats[helpline_id] = {
                "waiting": summary.waiting,
                "longest_wait_s": int(longest),
                "open": hours.is_open(now),
                "accepting": admission(self.helpline(helpline_id), hours, now).open,
                "closes_at": protocol.iso(hours.next_closing(now)) if hours.is_open(now) else None,
            }
            if self.helpline(helpline_id).assignment == "pick":
                stats[helpline_id].update(await self._pick_list(helpline_id, now))
        return {"helplines": stats}

    async def _pick_list(self, helpline_id: str, now: datetime) -> dict[str, Any]:
        """What a counselor may see to choose a visitor: the wait and the language, no text."""
        waiting = await self.store.waiting(helpline_id)
        return {
            "assignment": "pick",
            "waiting_chats": [
                {
                    "chat_id": chat.chat_id,
                    "waited_s": max(0, int((now - chat.enqueued_at).total_seconds())),
                    "lang": chat.lang,
                }
                for chat in waiting[: protocol.MAX_PICK_LIST]
            ],
        }

    def helplines_served(self, helplines: tuple[str, ...]) -> list[str]:
        return [h.id for h in self.config.helplines if not helplines or h.id in helplines]

    # --- shared steps ----------------------------------------------------------------

    async def _end(
        self,
        chat_id: str,
        reason: EndReason,
        skip_sid: str | None = None,
        visitor_extra: dict[str, Any] | None = None,
    ) -> bool:
        """End a chat for whatever reason, tell both sides, count it; False if already over."""
        now = self.clock()
        before = await self.store.end_chat(chat_id, reason, now)
        if before is None:
            return False
        await self.store.set_deadline(
            _FORGET_ENDED + before.token_hash, now + timedelta(seconds=ENDED_RECORD_SECONDS)
        )
        await self.store.clear_deadline(_VISITOR_GONE + chat_id)
        log.debug(
            "chat ended on %s: %s",
            before.helpline,
            reason.value,
            extra={"event": "chat_ended", "counts": {"messages": before.last_seq}},
        )
        ended = {"reason": reason.value, **(visitor_extra or {})}
        await self.notifier.to_visitor(chat_id, "ended", ended, skip_sid)
        if before.state is ChatState.WAITING:
            await self._count(before.helpline, now, counting.ABANDONED)
            self.request_announce(before.helpline)
        elif before.counselor:
            await self.notifier.to_counselor(
                before.counselor, "ended", {"chat_id": chat_id, "reason": reason.value}
            )
            if before.state is ChatState.OFFERED:
                # Gone before any counselor confirmed: never answered.
                await self.store.clear_deadline(_OFFER + chat_id)
                await self._count(before.helpline, now, counting.ABANDONED)
            elif before.assigned_at is not None:
                duration = (now - before.assigned_at).total_seconds()
                await self._count(before.helpline, now, counting.duration_bucket(duration))
                if reason is not EndReason.COUNSELOR:
                    # Left before the counselor ended it: the outcome is still owed (wrap_up).
                    await self._await_outcome(before, before.counselor, now)
            self.spawn(self.try_assign(before.helpline))
        return True

    async def try_assign(self, helpline_id: str, *, sweep: bool = False) -> None:
        """Hand waiting visitors to free counselors while the helpline is open.

        Every event that frees a slot or queues a visitor calls this; the tick calls it
        again every second (sweep=True) as the safety net, so nobody waits beside a free
        slot for longer than a tick, whatever event went missing.
        """
        helpline = self.helpline(helpline_id)
        if helpline.assignment == "pick":
            return  # counselors choose (counselor_pick)
        assigned_any = False
        while self.hours[helpline_id].is_open(self.clock()):
            assignment = await self.store.assign_next(
                helpline_id, helpline.max_chats_per_counselor, self.clock()
            )
            if assignment is None:
                break
            assigned_any = True
            self.counters.assignments.inc()
            if sweep:
                self.counters.assignments_by_sweep.inc()
            waited = (self.clock() - assignment.chat.enqueued_at).total_seconds()
            self.counters.assignment_latency.labels(helpline_id).observe(max(0.0, waited))
            log.debug(
                "chat assigned on %s",
                helpline_id,
                extra={"event": "chat_assigned", "counts": {"queued_s": round(waited, 3)}},
            )
            await self._announce_assignment(assignment)
        if assigned_any:
            self.request_announce(helpline_id)

    async def _announce_assignment(self, assignment: Assignment) -> None:
        """Tell the counselor; the visitor hears it once the counselor's console confirmed."""
        chat, counselor = assignment.chat, assignment.counselor
        now = self.clock()
        if chat.state is ChatState.OFFERED:
            confirm = timedelta(seconds=self.config.server.assignment_confirm_seconds)
            await self.store.set_deadline(_OFFER + chat.chat_id, now + confirm)
        messages = await self.store.messages_since(chat.chat_id, 0)
        await self.notifier.to_counselor(
            counselor.username, "assigned", await self._assigned_payload(chat, messages, now)
        )
        if chat.state is ChatState.CHATTING:
            await self._tell_visitor_answered(assignment)

    async def _tell_visitor_answered(self, assignment: Assignment) -> None:
        chat, now = assignment.chat, self.clock()
        if assignment.first_answer:
            waited = (now - chat.requested_at).total_seconds()
            self.counters.queue_wait.labels(chat.helpline).observe(max(0.0, waited))
            await self._count(chat.helpline, now, counting.ANSWERED, counting.wait_bucket(waited))
        await self.notifier.to_visitor(
            chat.chat_id, "assigned", {"counselor_name": assignment.counselor.display_name}
        )
        if not assignment.first_answer:
            # A transfer or a lost counselor: say in the log who answers now, for both sides.
            name = assignment.counselor.display_name
            message = await self._system_message(chat, texts.taken_over_message(chat.lang, name))
            if message is not None:
                await self.notifier.to_counselor(
                    assignment.counselor.username,
                    "message",
                    message_payload(message, chat.chat_id),
                )

    async def counselor_accept(self, username: str, chat_id: str) -> dict[str, Any]:
        """The console confirms an assigned chat (protocol 2); repeating it is harmless."""
        confirmed = await self.store.confirm_assignment(chat_id, username, self.clock())
        if confirmed is None:
            chat = await self.store.get_chat(chat_id)
            if chat is None or chat.state is not ChatState.CHATTING or chat.counselor != username:
                raise ProtocolError(NOT_IN_CHAT, "this chat is not (or no longer) yours")
            return {"ok": True}
        await self.store.clear_deadline(_OFFER + chat_id)
        await self._tell_visitor_answered(confirmed)
        return {"ok": True}

    async def _withdraw_offer(self, chat_id: str, *, unconfirmed: bool = True) -> None:
        """An offer ends unconfirmed: the visitor goes back to the front of the queue.

        unconfirmed: no confirmation came in time. A console that cannot confirm (frozen, lid
        closed, network gone) must not be given more visitors, so the counselor is set away
        and every tab hears why. Otherwise the console is simply gone (its last connection
        dropped) and keeps its availability for when it comes back.
        """
        before = await self.store.withdraw_offer(chat_id, self.clock(), unconfirmed)
        if before is None or before.counselor is None:
            return
        username = before.counselor
        self.counters.offers_withdrawn.inc()
        if not unconfirmed:
            self.request_announce(before.helpline)
            self.spawn(self.try_assign(before.helpline))
            return
        log.warning(
            "counselor %s did not confirm an assigned chat within %d s; set unavailable",
            username,
            self.config.server.assignment_confirm_seconds,
        )
        await self.notifier.to_counselor(
            username, "ended", {"chat_id": chat_id, "reason": "unconfirmed"}
        )
        state = await self.store.get_counselor(username)
        await self.notifier.to_counselor(
            username,
            "availability",
            {
                "available": False,
                "active_chats": len(state.chats) if state else 0,
                "reason": "unconfirmed",
            },
        )
        self.request_announce(before.helpline)
        await self.try_assign(before.helpline)

    def request_announce(self, helpline_id: str) -> None:
        """Announce the queue soon; a burst of changes makes one announcement, not one each.

        Every waiting visitor gets an event per announcement, so in a long queue this is
        what keeps a busy evening from costing queue-length events per assignment.
        """
        if helpline_id in self._announce_pending:
            return
        self._announce_pending.add(helpline_id)
        self.spawn(self._announce_after_delay(helpline_id))

    async def _announce_after_delay(self, helpline_id: str) -> None:
        await asyncio.sleep(ANNOUNCE_DELAY_SECONDS)
        self._announce_pending.discard(helpline_id)
        await self.announce_queue(helpline_id)

    async def announce_queue(self, helpline_id: str) -> None:
        """Tell waiting visitors their position and the counselors the queue's size.

        Only needed when someone ahead in the queue left or was put in front, or when the
        counselors' capacity changed; a visitor joining at the back moves nobody.
        """
        await self.tell_local_positions(helpline_id)
        await self.announce_stats(helpline_id)

    async def tell_local_positions(self, helpline_id: str) -> None:
        """Each process tells its own waiting visitors what changed for them, nobody else's.

        Positions never cross the bus: with N waiting visitors that would be N publishes per
        change. This process announces at once what it changed, and on every tick (so that
        a change made by another process reaches its visitors within a second), and only
        to connections whose position or estimate differs from what they were last told.
        """
        local: dict[str, list[str]] = {}
        for sid, (kind, chat_id) in self._local.items():
            if kind == VISITOR:
                local.setdefault(chat_id, []).append(sid)
        if not local:
            return
        helpline = self.helpline(helpline_id)
        free, busy = await self._slots(helpline)
        for index, chat_id in enumerate(await self.store.waiting_ids(helpline_id)):
            sids = local.get(chat_id)
            if not sids:
                continue
            position = index + 1
            told = (position, estimated_wait_s(position, free, busy))
            for sid in sids:
                if self._told.get(sid) != told:
                    self._told[sid] = told
                    await self.notifier.to_visitor_connection(
                        sid, "queue", {"position": told[0], "estimated_wait_s": told[1]}
                    )

    async def announce_stats(self, helpline_id: str) -> None:
        """Tell the helpline's counselors how long its queue is."""
        await self.notifier.to_counselors_of(
            helpline_id, "queue_stats", await self.queue_stats([helpline_id])
        )

    # --- timers ----------------------------------------------------------------------

    def _connection(self, sid: str) -> Connection:
        return Connection(self.process_id, sid)

    async def _ensure_heartbeat(self) -> None:
        now = self.clock()
        if self._last_heartbeat is None or now - self._last_heartbeat >= HEARTBEAT_EVERY:
            known = await self.store.heartbeat(self.process_id, now + PROCESS_TTL)
            first = self._last_heartbeat is None
            self._last_heartbeat = now
            if not known and not first:
                await self._reattach_all()

    async def _reattach_all(self) -> None:
        """Another process took us for dead (Redis was away too long): register again.

        Our connections are still open, so their grace periods must not run out.
        """
        log.warning("this process was swept as dead; re-registering its connections")
        for sid, (kind, subject) in list(self._local.items()):
            if kind == VISITOR:
                await self.store.visitor_connected(subject, self._connection(sid))
                await self.store.clear_deadline(_VISITOR_GONE + subject)
            else:
                state = await self.store.get_counselor(subject)
                if state is not None:
                    await self.store.counselor_connected(
                        subject,
                        state.display_name,
                        state.helplines,
                        self._connection(sid),
                        self.clock(),
                    )
                    await self.store.clear_deadline(_COUNSELOR_GONE + subject)

    async def _sweep(self, now: datetime) -> None:
        """Start the grace period of everyone whose server process died under them."""
        for kind, subject in await self.store.sweep_dead_processes(now):
            if kind == VISITOR:
                await self._visitor_left(subject)
            else:
                state = await self.store.get_counselor(subject)
                if state is not None and not state.online:
                    await self._counselor_left(state)

    async def tick(self) -> None:
        """Fire due deadlines, close queues at closing time, assign where possible."""
        await self._ensure_heartbeat()
        now = self.clock()
        await self._sweep(now)
        for key in await self.store.pop_due_deadlines(now):
            try:
                await self._fire(key)
            except Exception:
                log.exception("deadline %s failed", key.split(":", 1)[0])
        await self._set_idle_counselors_away(now)
        for helpline in self.config.helplines:
            if self.hours[helpline.id].is_open(now):
                await self.try_assign(helpline.id, sweep=True)
                await self.tell_local_positions(helpline.id)
            else:
                await self._close_queue(helpline, now)

    async def _set_idle_counselors_away(self, now: datetime) -> None:
        """An available counselor with no chats and no activity for a while is set away.

        So nobody is assigned a visitor at a console left open on an empty desk. Only
        counselors connected to this process are judged, by the activity this process saw.
        """
        idle_for = timedelta(minutes=self.config.server.counselor_idle_minutes)
        local = {subject for kind, subject in self._local.values() if kind == COUNSELOR}
        for state in await self.store.counselors():
            if state.username not in local or not state.online:
                continue
            if not state.available or state.chats:
                continue
            last = self._last_activity.get(state.username)
            if state.idle_since is not None and (last is None or state.idle_since > last):
                last = state.idle_since
            if last is None or now - last < idle_for:
                continue
            log.info(
                "counselor %s set away after %s idle",
                state.username,
                idle_for,
                extra={"event": "counselor_idle_away"},
            )
            await self.set_availability(state.username, False, reason="idle")

    async def _fire(self, key: str) -> None:
        kind, _, subject = key.partition(":")
        if key.startswith(_VISITOR_GONE):
            await self._end(subject, EndReason.TIMEOUT)
        elif key.startswith(_COUNSELOR_GONE):
            await self._counselor_gone(subject)
        elif key.startswith(_FORGET_ENDED):
            await self.store.forget_ended(subject)
        elif key.startswith(_OFFER):
            await self._withdraw_offer(subject)
        elif key.startswith(_WRAP_UP):
            await self._wrap_up_ran_out(subject)
        else:
            log.warning("unknown deadline kind %s", kind)

    async def _counselor_gone(self, username: str) -> None:
        state = await self.store.get_counselor(username)
        if state is None or state.online:
            return
        await self.store.set_available(username, False, self.clock())
        now = self.clock()
        requeued = await self.store.requeue_counselor_chats(username, now)
        for chat in requeued:
            self.counters.requeues.labels(chat.helpline).inc()
            await self._system_message(chat, texts.counselor_lost_message(chat.lang))
        await self.store.forget_counselor(username)
        for helpline_id in sorted({chat.helpline for chat in requeued}):
            self.request_announce(helpline_id)
            await self.try_assign(helpline_id)

    async def _close_queue(self, helpline: HelplineConfig, now: datetime) -> None:
        if not (await self.store.queue_summary(helpline.id)).waiting:
            return
        closed = await self.store.close_queue(helpline.id, now)
        opens_at = admission(helpline, self.hours[helpline.id], now).opens_at
        for chat in closed:
            await self.store.set_deadline(
                _FORGET_ENDED + chat.token_hash, now + timedelta(seconds=ENDED_RECORD_SECONDS)
            )
            await self.store.clear_deadline(_VISITOR_GONE + chat.chat_id)
            await self._count(helpline.id, now, counting.UNSERVED_AT_CLOSING)
            await self.notifier.to_visitor(
                chat.chat_id,
                "ended",
                {
                    "reason": EndReason.CLOSED.value,
                    "opens_at": protocol.iso(opens_at),
                    "message": texts.closed_message(
                        helpline.name, opens_at, self.config.timezone, chat.lang
                    ),
                },
            )
        if closed:
            await self.notifier.to_counselors_of(
                helpline.id, "queue_stats", await self.queue_stats([helpline.id])
            )


def _wrap_up_key(chat_id: str, username: str) -> str:
    return f"{_WRAP_UP}{chat_id}:{username}"
