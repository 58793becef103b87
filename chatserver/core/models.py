"""The records the core reasons about; stores keep them, adapters translate them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ChatState(StrEnum):
    WAITING = "waiting"
    # Given to a counselor whose console has not yet confirmed it (protocol 2): the visitor
    # still sees the queue, and the chat goes back to its front if no confirmation comes.
    OFFERED = "offered"
    CHATTING = "chatting"
    ENDED = "ended"


class Sender(StrEnum):
    VISITOR = "visitor"
    COUNSELOR = "counselor"
    SYSTEM = "system"


class EndReason(StrEnum):
    VISITOR = "visitor"
    COUNSELOR = "counselor"
    CLOSED = "closed"
    BLOCKED = "blocked"
    TIMEOUT = "timeout"
    # The single process without Redis stopped (a deploy): its chats could not continue.
    RESTART = "restart"


@dataclass(frozen=True, slots=True)
class Message:
    seq: int
    sender: Sender
    text: str
    ts: datetime
    client_msg_id: str | None = None


@dataclass(slots=True)
class Chat:
    """One visitor's contact, from the start request to its end.

    It carries no identity: a random id, the hash of the visitor's resume token, and the
    times needed to order the queue and to bucket the wait.
    """

    chat_id: str
    helpline: str
    token_hash: str
    lang: str
    state: ChatState
    requested_at: datetime
    # When the chat (re)joined the queue; drives FIFO order and the wait shown.
    enqueued_at: datetime
    # Set by the store when the chat is created: increases with every request, so
    # "request order" is well defined even when two requests share a timestamp.
    ticket: int = 0
    counselor: str | None = None
    counselor_name: str | None = None
    # Hash of the widget's random per-tab id, so a block can also refuse new starts.
    session_hash: str | None = None
    assigned_at: datetime | None = None
    answered: bool = False
    last_seq: int = 0
    end_reason: EndReason | None = None
    # The visitor has sent at least one message: a silent waiting visitor's place lapses fast.
    visitor_wrote: bool = False

    @property
    def with_counselor(self) -> bool:
        """Offered or being answered: the counselor's console holds the chat."""
        return self.state in (ChatState.OFFERED, ChatState.CHATTING) and bool(self.counselor)


@dataclass(slots=True)
class CounselorState:
    """A logged-in counselor's presence, as far as assignment cares."""

    username: str
    display_name: str
    helplines: tuple[str, ...]
    available: bool = False
    connections: int = 0
    chats: set[str] = field(default_factory=set)
    # When the counselor last got or finished a chat, or became available: ties between
    # equally loaded counselors go to whoever has had nothing new for longest.
    idle_since: datetime | None = None
    # The counselor's console confirms each assignment with `accept` (protocol 2); a v1
    # console cannot, so its assignments count as confirmed at once.
    confirms: bool = False
    # Why the server (not the counselor) set them away: "idle" or "unconfirmed"; told to
    # every console that connects until the counselor changes their availability.
    away_reason: str | None = None

    @property
    def online(self) -> bool:
        return self.connections > 0

    def serves(self, helpline: str) -> bool:
        return not self.helplines or helpline in self.helplines
