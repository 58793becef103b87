"""The store interface: every piece of shared state, and every step that must be atomic.

Each method that makes a decision other processes could race on (joining the queue with the
max_queue check, taking the next visitor for a counselor, ending a chat, returning a lost
counselor's chats to the queue) is one call here, so the Redis store can make it one Lua
script or transaction. The in-process store makes each one a critical section without
awaits. Both pass tests/integration/test_store_behaviour.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from chatserver.core.counting import DailyCounts, MonthlyDemand
from chatserver.core.models import Chat, ChatState, CounselorState, EndReason, Message, Sender

VISITOR = "visitor"
COUNSELOR = "counselor"

# Chats put back in the queue (their counselor was lost) go before every new request.
_FRONT_OFFSET = 10**15


def queue_score(ticket: int, *, front: bool) -> int:
    """A chat's place in its queue: lower is served first.

    Within each group (put back / new) the earlier request goes first, so two counselors
    lost one after the other cannot push an older request behind a younger one.
    """
    return ticket - _FRONT_OFFSET if front else ticket


@dataclass(frozen=True, slots=True)
class Connection:
    """One Socket.IO connection, named by the server process that holds it.

    A connection lives as long as its process keeps sending heartbeats, so a process that
    dies takes its connections with it instead of leaving ghosts.
    """

    process_id: str
    sid: str

    @property
    def key(self) -> str:
        return f"{self.process_id}|{self.sid}"


@dataclass(frozen=True, slots=True)
class QueueSummary:
    waiting: int
    # The earliest enqueued_at among the waiting (None for an empty queue).
    oldest_enqueued_at: datetime | None


@dataclass(frozen=True, slots=True)
class Assignment:
    chat: Chat
    counselor: CounselorState
    # True the first time this contact is answered; a requeued chat is not counted twice.
    first_answer: bool


@dataclass(frozen=True, slots=True)
class ChatMark:
    """Where a chat stands, cheaply: for heartbeats that tell clients what they may miss."""

    state: ChatState
    last_seq: int
    # For /metrics: chats per helpline without reading each chat.
    helpline: str = ""


@dataclass(frozen=True, slots=True)
class Appended:
    message: Message
    # False when the client_msg_id was seen before: the original message, not stored again.
    new: bool


@dataclass(frozen=True, slots=True)
class AppendLimits:
    """What append_message enforces for one message (see config.LimitsConfig)."""

    max_messages: int
    max_bytes: int
    # The chat's visitor budget (a token bucket shared by all the visitor's connections and
    # server processes): tokens per second and bucket size; None for no rate limit.
    rate: float | None = None
    burst: int = 0


class Refusal(StrEnum):
    FULL = "full"  # the chat's log holds max_messages or max_bytes
    RATE = "rate"  # the visitor's budget in this chat is spent


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal
    # The chat's first FULL refusal, so its counselor is told exactly once.
    first: bool = False


def text_bytes(text: str) -> int:
    """What a message's text counts against a chat's max_bytes: its UTF-8 length."""
    return len(text.encode("utf-8", "surrogatepass"))


class Store(Protocol):
    # --- chats and queues ------------------------------------------------------------

    async def create_chat(self, chat: Chat, max_queue: int) -> int | None:
        """Put a new chat at the back of its helpline's queue.

        Returns the 1-based position, or None (and nothing stored) when max_queue visitors
        are already waiting.
        """

    async def get_chat(self, chat_id: str) -> Chat | None: ...

    async def find_chat_by_token(self, token_hash: str) -> Chat | None: ...

    async def chat_marks(self, chat_ids: list[str]) -> dict[str, ChatMark]:
        """State and latest seq of each open chat among chat_ids (ended ones are left out)."""

    async def waiting(self, helpline: str) -> list[Chat]:
        """The helpline's queue, first in line first."""

    async def waiting_ids(self, helpline: str) -> list[str]:
        """The queue's chat ids, first in line first; cheap for long queues."""

    async def queue_summary(self, helpline: str) -> QueueSummary: ...

    async def queue_position(self, helpline: str, chat_id: str) -> int | None:
        """1-based place in the queue, or None when the chat is not waiting there."""

    async def assign_next(
        self,
        helpline: str,
        max_chats: int,
        now: datetime,
        *,
        chat_id: str | None = None,
        username: str | None = None,
    ) -> Assignment | None:
        """Give the first waiting visitor to the counselor that core.assignment would choose.

        chat_id and username narrow the choice for a counselor who picks from the queue: that
        waiting chat (None when it no longer waits) to that counselor (None when not eligible).

        Never gives one visitor to two counselors, nor a counselor more than max_chats. The
        chosen counselor's idle_since becomes now. The chat becomes OFFERED when the
        counselor's console confirms assignments (CounselorState.confirms), else CHATTING
        (and then first_answer says whether this is the contact's first answer).
        """

    async def confirm_assignment(
        self, chat_id: str, username: str, now: datetime
    ) -> Assignment | None:
        """The counselor's console confirmed an OFFERED chat: it becomes CHATTING.

        None, and nothing changed, unless the chat is offered to username right now.
        """

    async def withdraw_offer(
        self, chat_id: str, now: datetime, unconfirmed: bool = True
    ) -> Chat | None:
        """An offer ends unconfirmed: the chat goes back to the front of its queue.

        With unconfirmed, the counselor it was offered to is also made unavailable for new
        chats (away_reason "unconfirmed"). Returns the chat as it was (with that counselor),
        or None when it was not OFFERED.
        """

    async def end_chat(self, chat_id: str, reason: EndReason, now: datetime) -> Chat | None:
        """End a waiting or active chat, free the counselor's slot and delete everything of it.

        Returns the chat as it was just before (so the caller knows whether it was waiting
        or chatting), or None when it had already ended or never existed. Only a tombstone
        stays, under the token's hash: the end reason, so a late resume is told "ended",
        until forget_ended.
        """

    async def ended_reason(self, token_hash: str) -> EndReason | None:
        """Why the chat of this token ended, while its tombstone lasts."""

    async def forget_ended(self, token_hash: str) -> None: ...

    async def close_queue(self, helpline: str, now: datetime) -> list[Chat]:
        """End every waiting chat of a helpline (closing time); returns them."""

    async def requeue_counselor_chats(self, username: str, now: datetime) -> list[Chat]:
        """Put a lost counselor's active chats back at the front of their queues.

        Ordered by queue_score(front=True): ahead of every new request, earliest request
        first. Returns them in request order.
        """

    async def transfer_to_helpline(
        self, chat_id: str, username: str, helpline: str, now: datetime
    ) -> Chat | None:
        """Move a counselor's open chat to the front of a (possibly other) helpline's queue.

        None, and nothing changed, unless the chat is open and belongs to username.
        """

    async def transfer_to_counselor(
        self, chat_id: str, username: str, colleague: str, max_chats: int, now: datetime
    ) -> Assignment | None:
        """Hand a counselor's open chat straight to a colleague.

        Only to a colleague who is online, available, serves the chat's helpline and has a
        free slot (max_chats); otherwise None and nothing changed.
        """

    async def set_note(self, chat_id: str, note: str) -> None:
        """A counselor's handover note for the next counselor; the visitor never sees it."""

    async def note(self, chat_id: str) -> str | None: ...

    # --- blocked visitors ----------------------------------------------------------------

    async def block(self, hashes: list[str], until: datetime, now: datetime) -> None:
        """Refuse these token or browser-session hashes until then; nothing else is kept."""

    async def is_blocked(self, hash_: str, now: datetime) -> bool: ...

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
        """Store a message under the chat's next seq; None when the chat is not open.

        A client_msg_id the chat has seen before returns the original message with new=False
        (before any limit is checked, so a retry never counts twice). With limits, a chat
        whose log is full, or whose visitor budget is spent, refuses the message and stores
        nothing. A visitor's message marks the chat visitor_wrote.
        """

    async def messages_since(
        self, chat_id: str, last_seq: int, limit: int | None = None
    ) -> list[Message]:
        """The messages after last_seq in seq order; at most limit of them when given."""

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
        """Record a live connection; helplines are the ones served (never empty).

        confirms: this connection's console confirms assignments (the latest connection
        decides for the counselor).
        """

    async def counselor_disconnected(
        self, username: str, connection: Connection, now: datetime
    ) -> CounselorState | None:
        """One connection fewer; the state tells whether any are left."""

    async def set_available(
        self, username: str, available: bool, now: datetime, away_reason: str | None = None
    ) -> CounselorState | None:
        """Switch availability; away_reason says why when the server switched them off."""

    async def get_counselor(self, username: str) -> CounselorState | None: ...

    async def counselors(self) -> list[CounselorState]: ...

    async def forget_counselor(self, username: str) -> None:
        """Drop a counselor's presence once they are gone and own no chats."""

    # --- visitor connections -----------------------------------------------------------

    async def visitor_connected(self, chat_id: str, connection: Connection) -> int:
        """One more live connection for the chat's visitor; returns how many now.

        0 (and nothing recorded) when the chat does not exist.
        """

    async def visitor_disconnected(self, chat_id: str, connection: Connection) -> int: ...

    # --- server processes --------------------------------------------------------------

    async def heartbeat(self, process_id: str, expires_at: datetime) -> bool:
        """This process is alive until expires_at; its connections count until then.

        False when the store did not know the process: it is new, or it was swept as dead
        and must register its connections again.
        """

    async def sweep_dead_processes(self, now: datetime) -> list[tuple[str, str]]:
        """Drop the connections of processes whose heartbeat ran out.

        Returns (VISITOR, chat_id) and (COUNSELOR, username) for everyone who lost their
        last connection that way, so the caller can start their grace period. Each is
        returned once, to one caller.
        """

    # --- deadlines (grace periods and other timers that must fire once) ------------------

    async def set_deadline(self, key: str, at: datetime) -> None: ...

    async def clear_deadline(self, key: str) -> None: ...

    async def pop_due_deadlines(self, now: datetime) -> list[str]:
        """Remove and return every deadline at or before now; each is returned once."""

    # --- counts ----------------------------------------------------------------------

    async def add_counts(self, helpline: str, day: date, counts: Mapping[str, int]) -> None: ...

    async def daily_counts(
        self, first: date, last: date, helpline: str | None = None
    ) -> list[DailyCounts]:
        """Days with any count in [first, last], ordered by date then helpline."""

    async def add_demand(self, helpline: str, month: str, cells: Mapping[str, int]) -> None:
        """Add to the hour-of-week demand of a local month ("YYYY-MM"; core/counting.py)."""

    async def monthly_demand(
        self, first: str, last: str, helpline: str | None = None
    ) -> list[MonthlyDemand]:
        """Months first..last ("YYYY-MM", inclusive) with any demand, by month then helpline."""

    # --- outcomes awaited after the visitor left first ------------------------------------

    async def await_outcome(
        self, username: str, chat_id: str, helpline: str, day: date, ttl_s: int
    ) -> None:
        """Remember that this counselor owes the chat's outcome (nothing about the visitor)."""

    async def take_awaited_outcome(self, username: str, chat_id: str) -> tuple[str, date] | None:
        """(helpline, local date) of an awaited outcome, removed; None if none (any more)."""

    # --- lifecycle -------------------------------------------------------------------

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
