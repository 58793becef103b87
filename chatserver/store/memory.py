"""The default in-process store: everything in memory, counts in a file under the data dir.

Each method runs to completion without awaiting anything, so on one event loop every call
is atomic; that is the in-process equivalent of the Redis store's Lua scripts.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

from chatserver.core.assignment import choose_counselor, eligible
from chatserver.core.counting import DailyCounts, MonthlyDemand
from chatserver.core.models import Chat, ChatState, CounselorState, EndReason, Message, Sender
from chatserver.core.ratelimit import TokenBucket
from chatserver.store.base import (
    COUNSELOR,
    VISITOR,
    Appended,
    AppendLimits,
    Assignment,
    ChatMark,
    Connection,
    QueueSummary,
    Refusal,
    Refused,
    queue_score,
    text_bytes,
)
from chatserver.store.counts_file import DEMAND_FILE_NAME, CountsFile


@dataclasses.dataclass(slots=True)
class _ChatRecord:
    chat: Chat
    messages: list[Message] = dataclasses.field(default_factory=list)
    by_client_msg_id: dict[str, Message] = dataclasses.field(default_factory=dict)
    visitor_connections: set[str] = dataclasses.field(default_factory=set)
    note: str | None = None
    # UTF-8 bytes of every stored text, for AppendLimits.max_bytes.
    log_bytes: int = 0
    full_told: bool = False
    # The visitor's message budget in this chat, shared by all their connections.
    visitor_budget: TokenBucket | None = None


def _copy_chat(chat: Chat) -> Chat:
    return dataclasses.replace(chat)


def _copy_counselor(state: CounselorState) -> CounselorState:
    return dataclasses.replace(state, chats=set(state.chats))


_ALIVE = timedelta(days=1)


class MemoryStore:
    def __init__(self, data_dir: Path) -> None:
        self._chats: dict[str, _ChatRecord] = {}
        self._by_token: dict[str, str] = {}
        # Per helpline: (score, chat_id) kept sorted; see store.base.queue_score.
        self._queues: dict[str, list[tuple[int, str]]] = {}
        self._counselors: dict[str, CounselorState] = {}
        self._deadlines: dict[str, datetime] = {}
        self._tickets = 0
        # Tombstones of ended chats: token hash -> why it ended.
        self._ended: dict[str, EndReason] = {}
        self._blocked: dict[str, datetime] = {}
        # Connection keys per counselor; per process: (kind, subject, connection key).
        self._counselor_connections: dict[str, set[str]] = {}
        self._processes: dict[str, datetime] = {}
        self._process_connections: dict[str, set[tuple[str, str, str]]] = {}
        self._counts = CountsFile(data_dir)
        self._demand = CountsFile(data_dir, DEMAND_FILE_NAME)
        # (username, chat_id) -> (helpline, local date, expires at, monotonic seconds).
        self._awaited: dict[tuple[str, str], tuple[str, date, float]] = {}

    # --- chats and queues ------------------------------------------------------------

    async def create_chat(self, chat: Chat, max_queue: int) -> int | None:
        queue = self._queues.setdefault(chat.helpline, [])
        if len(queue) >= max_queue:
            return None
        self._tickets += 1
        stored = dataclasses.replace(chat, ticket=self._tickets)
        self._chats[chat.chat_id] = _ChatRecord(chat=stored)
        self._by_token[chat.token_hash] = chat.chat_id
        entry = (queue_score(stored.ticket, front=False), chat.chat_id)
        bisect.insort(queue, entry)
        return bisect.bisect_left(queue, entry) + 1

    async def get_chat(self, chat_id: str) -> Chat | None:
        record = self._chats.get(chat_id)
        return _copy_chat(record.chat) if record else None

    async def find_chat_by_token(self, token_hash: str) -> Chat | None:
        chat_id = self._by_token.get(token_hash)
        return await self.get_chat(chat_id) if chat_id else None

    async def chat_marks(self, chat_ids: list[str]) -> dict[str, ChatMark]:
        marks = {}
        for chat_id in chat_ids:
            record = self._chats.get(chat_id)
            if record is not None:
                marks[chat_id] = ChatMark(
                    record.chat.state, record.chat.last_seq, record.chat.helpline
                )
        return marks

    async def waiting(self, helpline: str) -> list[Chat]:
        return [_copy_chat(self._chats[c].chat) for _, c in self._queues.get(helpline, ())]

    async def waiting_ids(self, helpline: str) -> list[str]:
        return [chat_id for _, chat_id in self._queues.get(helpline, ())]

    async def queue_summary(self, helpline: str) -> QueueSummary:
        queue = self._queues.get(helpline, [])
        # New requests wait in ticket order, so the first of them waited longest; chats put
        # back in front (negative scores) are few and restarted their wait: check them all.
        candidates = []
        for score, chat_id in queue:
            candidates.append(self._chats[chat_id].chat.enqueued_at)
            if score >= 0:
                break
        return QueueSummary(waiting=len(queue), oldest_enqueued_at=min(candidates, default=None))

    async def queue_position(self, helpline: str, chat_id: str) -> int | None:
        for index, (_, queued) in enumerate(self._queues.get(helpline, ())):
            if queued == chat_id:
                return index + 1
        return None

    async def assign_next(
        self,
        helpline: str,
        max_chats: int,
        now: datetime,
        *,
        chat_id: str | None = None,
        username: str | None = None,
    ) -> Assignment | None:
        queue = self._queues.get(helpline)
        if not queue:
            return None
        index = 0
        if chat_id is not None:
            ids = [queued for _, queued in queue]
            if chat_id not in ids:
                return None
            index = ids.index(chat_id)
        live = [
            self._with_live_connections(c, now)
            for c in self._counselors.values()
            if username is None or c.username == username
        ]
        chosen = choose_counselor(live, helpline, max_chats)
        if chosen is None:
            return None
        counselor = self._counselors[chosen.username]
        chat = self._chats[queue.pop(index)[1]].chat
        chat.counselor = counselor.username
        chat.counselor_name = counselor.display_name
        chat.assigned_at = now
        counselor.chats.add(chat.chat_id)
        counselor.idle_since = now
        return self._offer_or_answer(chat, counselor)

    def _offer_or_answer(self, chat: Chat, counselor: CounselorState) -> Assignment:
        """OFFERED to a console that confirms, else answered now (as confirm_assignment)."""
        if counselor.confirms:
            chat.state = ChatState.OFFERED
            return Assignment(_copy_chat(chat), _copy_counselor(counselor), first_answer=False)
        return self._answer(chat, counselor)

    def _answer(self, chat: Chat, counselor: CounselorState) -> Assignment:
        chat.state = ChatState.CHATTING
        first_answer = not chat.answered
        chat.answered = True
        return Assignment(_copy_chat(chat), _copy_counselor(counselor), first_answer)

    async def confirm_assignment(
        self, chat_id: str, username: str, now: datetime
    ) -> Assignment | None:
        record = self._chats.get(chat_id)
        counselor = self._counselors.get(username)
        if record is None or counselor is None:
            return None
        chat = record.chat
        if chat.state is not ChatState.OFFERED or chat.counselor != username:
            return None
        return self._answer(chat, counselor)

    async def withdraw_offer(
        self, chat_id: str, now: datetime, unconfirmed: bool = True
    ) -> Chat | None:
        record = self._chats.get(chat_id)
        if record is None or record.chat.state is not ChatState.OFFERED:
            return None
        chat = record.chat
        before = _copy_chat(chat)
        counselor = self._counselors.get(chat.counselor or "")
        if counselor is not None:
            self._release_slot(counselor.username, chat_id, now)
            if unconfirmed:
                counselor.available = False
                counselor.away_reason = "unconfirmed"
        self._put_back_in_front(chat, chat.helpline, now)
        return before

    def _put_back_in_front(self, chat: Chat, helpline: str, now: datetime) -> None:
        chat.state = ChatState.WAITING
        chat.helpline = helpline
        chat.counselor = None
        chat.counselor_name = None
        chat.assigned_at = None
        chat.enqueued_at = now
        queue = self._queues.setdefault(helpline, [])
        bisect.insort(queue, (queue_score(chat.ticket, front=True), chat.chat_id))

    async def end_chat(self, chat_id: str, reason: EndReason, now: datetime) -> Chat | None:
        record = self._chats.get(chat_id)
        if record is None:
            return None
        chat = record.chat
        before = _copy_chat(chat)
        if chat.state is ChatState.WAITING:
            queue = self._queues[chat.helpline]
            queue[:] = [entry for entry in queue if entry[1] != chat_id]
        elif chat.counselor is not None:
            self._release_slot(chat.counselor, chat_id, now)
        del self._chats[chat_id]
        self._by_token.pop(chat.token_hash, None)
        self._ended[chat.token_hash] = reason
        return before

    async def ended_reason(self, token_hash: str) -> EndReason | None:
        return self._ended.get(token_hash)

    async def forget_ended(self, token_hash: str) -> None:
        self._ended.pop(token_hash, None)

    async def close_queue(self, helpline: str, now: datetime) -> list[Chat]:
        closed = []
        for _, chat_id in list(self._queues.get(helpline, ())):
            before = await self.end_chat(chat_id, EndReason.CLOSED, now)
            if before is not None:
                closed.append(before)
        return closed

    async def requeue_counselor_chats(self, username: str, now: datetime) -> list[Chat]:
        counselor = self._counselors.get(username)
        if counselor is None:
            return []
        chats = sorted(
            (self._chats[c].chat for c in counselor.chats if c in self._chats),
            key=lambda chat: chat.ticket,
        )
        requeued = []
        for chat in chats:
            self._release_slot(username, chat.chat_id, now)
            self._put_back_in_front(chat, chat.helpline, now)
            requeued.append(_copy_chat(chat))
        return requeued

    def _open_chat_of(self, chat_id: str, username: str) -> Chat | None:
        record = self._chats.get(chat_id)
        if record is None or record.chat.state is not ChatState.CHATTING:
            return None
        return record.chat if record.chat.counselor == username else None

    async def transfer_to_helpline(
        self, chat_id: str, username: str, helpline: str, now: datetime
    ) -> Chat | None:
        chat = self._open_chat_of(chat_id, username)
        if chat is None:
            return None
        self._release_slot(username, chat_id, now)
        self._put_back_in_front(chat, helpline, now)
        return _copy_chat(chat)

    async def transfer_to_counselor(
        self, chat_id: str, username: str, colleague: str, max_chats: int, now: datetime
    ) -> Assignment | None:
        chat = self._open_chat_of(chat_id, username)
        target = self._counselors.get(colleague)
        if chat is None or target is None or colleague == username:
            return None
        live = self._with_live_connections(target, now)
        if not eligible(live, chat.helpline, max_chats):
            return None
        self._release_slot(username, chat_id, now)
        chat.counselor = colleague
        chat.counselor_name = target.display_name
        chat.assigned_at = now
        target.chats.add(chat_id)
        target.idle_since = now
        return self._offer_or_answer(chat, target)

    async def set_note(self, chat_id: str, note: str) -> None:
        record = self._chats.get(chat_id)
        if record is not None:
            record.note = note

    async def note(self, chat_id: str) -> str | None:
        record = self._chats.get(chat_id)
        return record.note if record else None

    async def block(self, hashes: list[str], until: datetime, now: datetime) -> None:
        for hash_ in hashes:
            self._blocked[hash_] = until

    async def is_blocked(self, hash_: str, now: datetime) -> bool:
        until = self._blocked.get(hash_)
        if until is not None and until <= now:
            del self._blocked[hash_]
            return False
        return until is not None

    def _with_live_connections(self, state: CounselorState, now: datetime) -> CounselorState:
        """Only connections of processes not yet past their heartbeat count for assignment.

        A process that never sent a heartbeat has just started and counts as alive.
        """
        keys = self._counselor_connections.get(state.username, set())
        live = sum(
            1 for key in keys if self._processes.get(key.split("|", 1)[0], now + _ALIVE) > now
        )
        return dataclasses.replace(state, connections=live)

    def _release_slot(self, username: str, chat_id: str, now: datetime) -> None:
        counselor = self._counselors.get(username)
        if counselor is not None and chat_id in counselor.chats:
            counselor.chats.discard(chat_id)
            counselor.idle_since = now

    # --- messages --------------------------------------------------------------------

    async def append_message(
        self,
        chat_id: str,
        sender: Sender,
        text: str,
        client_msg_id: str | None,
        now: datetime,
        limits: AppendLimits | None = None,
    ) -> Appended | Refused | None:
        record = self._chats.get(chat_id)
        if record is None or record.chat.state is ChatState.ENDED:
            return None
        key = f"{sender.value}:{client_msg_id}" if client_msg_id else None
        if key is not None and key in record.by_client_msg_id:
            return Appended(message=record.by_client_msg_id[key], new=False)
        size = text_bytes(text)
        if limits is not None:
            refused = self._refusal(record, size, limits, now)
            if refused is not None:
                return refused
        record.log_bytes += size
        if sender is Sender.VISITOR:
            record.chat.visitor_wrote = True
        record.chat.last_seq += 1
        message = Message(
            seq=record.chat.last_seq, sender=sender, text=text, ts=now, client_msg_id=client_msg_id
        )
        record.messages.append(message)
        if key is not None:
            record.by_client_msg_id[key] = message
        return Appended(message=message, new=True)

    @staticmethod
    def _refusal(
        record: _ChatRecord, size: int, limits: AppendLimits, now: datetime
    ) -> Refused | None:
        if record.chat.last_seq >= limits.max_messages or (
            record.log_bytes + size > limits.max_bytes
        ):
            first = not record.full_told
            record.full_told = True
            return Refused(Refusal.FULL, first=first)
        if limits.rate is not None:
            if record.visitor_budget is None:
                record.visitor_budget = TokenBucket(limits.rate, limits.burst)
            if not record.visitor_budget.allow(now.timestamp()):
                return Refused(Refusal.RATE)
        return None

    async def messages_since(
        self, chat_id: str, last_seq: int, limit: int | None = None
    ) -> list[Message]:
        record = self._chats.get(chat_id)
        if record is None:
            return []
        # Messages are stored in seq order starting at 1, so the slice is direct.
        start = max(0, last_seq)
        end = None if limit is None else start + limit
        return list(record.messages[start:end])

    # --- counselors ------------------------------------------------------------------

    async def counselor_connected(
        self,
        username: str,
        display_name: str,
        helplines: tuple[str, ...],
        connection: Connection,
        now: datetime,
        confirms: bool = False,
    ) -> CounselorState:
        state = self._counselors.get(username)
        if state is None:
            state = CounselorState(
                username=username, display_name=display_name, helplines=helplines
            )
            self._counselors[username] = state
        state.display_name = display_name
        state.helplines = helplines
        state.confirms = confirms
        keys = self._counselor_connections.setdefault(username, set())
        keys.add(connection.key)
        self._remember(connection, COUNSELOR, username)
        state.connections = len(keys)
        return _copy_counselor(state)

    async def counselor_disconnected(
        self, username: str, connection: Connection, now: datetime
    ) -> CounselorState | None:
        state = self._counselors.get(username)
        if state is None:
            return None
        keys = self._counselor_connections.setdefault(username, set())
        keys.discard(connection.key)
        self._forget(connection, COUNSELOR, username)
        state.connections = len(keys)
        return _copy_counselor(state)

    async def set_available(
        self, username: str, available: bool, now: datetime, away_reason: str | None = None
    ) -> CounselorState | None:
        state = self._counselors.get(username)
        if state is None:
            return None
        if available and not state.available:
            state.idle_since = now
        state.available = available
        state.away_reason = None if available else away_reason
        return _copy_counselor(state)

    async def get_counselor(self, username: str) -> CounselorState | None:
        state = self._counselors.get(username)
        return _copy_counselor(state) if state else None

    async def counselors(self) -> list[CounselorState]:
        return [_copy_counselor(s) for s in self._counselors.values()]

    async def forget_counselor(self, username: str) -> None:
        state = self._counselors.get(username)
        if state is not None and not state.online and not state.chats:
            del self._counselors[username]
            self._counselor_connections.pop(username, None)

    # --- visitor connections -----------------------------------------------------------

    async def visitor_connected(self, chat_id: str, connection: Connection) -> int:
        record = self._chats.get(chat_id)
        if record is None:
            return 0
        record.visitor_connections.add(connection.key)
        self._remember(connection, VISITOR, chat_id)
        return len(record.visitor_connections)

    async def visitor_disconnected(self, chat_id: str, connection: Connection) -> int:
        record = self._chats.get(chat_id)
        self._forget(connection, VISITOR, chat_id)
        if record is None:
            return 0
        record.visitor_connections.discard(connection.key)
        return len(record.visitor_connections)

    # --- server processes --------------------------------------------------------------

    def _remember(self, connection: Connection, kind: str, subject: str) -> None:
        entries = self._process_connections.setdefault(connection.process_id, set())
        entries.add((kind, subject, connection.key))

    def _forget(self, connection: Connection, kind: str, subject: str) -> None:
        entries = self._process_connections.get(connection.process_id)
        if entries is not None:
            entries.discard((kind, subject, connection.key))

    async def heartbeat(self, process_id: str, expires_at: datetime) -> bool:
        known = process_id in self._processes
        self._processes[process_id] = expires_at
        return known

    async def sweep_dead_processes(self, now: datetime) -> list[tuple[str, str]]:
        orphans: list[tuple[str, str]] = []
        for process_id, expires_at in list(self._processes.items()):
            if expires_at > now:
                continue
            del self._processes[process_id]
            for kind, subject, key in sorted(self._process_connections.pop(process_id, set())):
                if kind == VISITOR:
                    record = self._chats.get(subject)
                    if record is not None and key in record.visitor_connections:
                        record.visitor_connections.discard(key)
                        if not record.visitor_connections:
                            orphans.append((kind, subject))
                else:
                    keys = self._counselor_connections.get(subject, set())
                    state = self._counselors.get(subject)
                    if key in keys:
                        keys.discard(key)
                        if state is not None:
                            state.connections = len(keys)
                        if not keys:
                            orphans.append((kind, subject))
        return orphans

    # --- deadlines -------------------------------------------------------------------

    async def set_deadline(self, key: str, at: datetime) -> None:
        self._deadlines[key] = at

    async def clear_deadline(self, key: str) -> None:
        self._deadlines.pop(key, None)

    async def pop_due_deadlines(self, now: datetime) -> list[str]:
        due = sorted((at, key) for key, at in self._deadlines.items() if at <= now)
        for _, key in due:
            del self._deadlines[key]
        return [key for _, key in due]

    # --- counts ----------------------------------------------------------------------

    async def add_counts(self, helpline: str, day: date, counts: Mapping[str, int]) -> None:
        self._counts.add(helpline, day, counts)

    async def daily_counts(
        self, first: date, last: date, helpline: str | None = None
    ) -> list[DailyCounts]:
        return self._counts.days(first, last, helpline)

    async def add_demand(self, helpline: str, month: str, cells: Mapping[str, int]) -> None:
        self._demand.add(helpline, month, cells)

    async def monthly_demand(
        self, first: str, last: str, helpline: str | None = None
    ) -> list[MonthlyDemand]:
        return self._demand.months(first, last, helpline)

    async def await_outcome(
        self, username: str, chat_id: str, helpline: str, day: date, ttl_s: int
    ) -> None:
        now = time.monotonic()
        self._awaited = {k: v for k, v in self._awaited.items() if v[2] > now}
        self._awaited[(username, chat_id)] = (helpline, day, now + ttl_s)

    async def take_awaited_outcome(self, username: str, chat_id: str) -> tuple[str, date] | None:
        record = self._awaited.pop((username, chat_id), None)
        if record is None or record[2] <= time.monotonic():
            return None
        return record[0], record[1]

    # --- lifecycle -------------------------------------------------------------------

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        await self._counts.flush()
        await self._demand.flush()
