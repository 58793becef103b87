"""The wire contract (v1): error codes, limits, payload validation and payload builders.

Everything a client can send is checked here before any state is touched, so a bad event
gets a clear error and changes nothing. See docs/protocol.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chatserver.config import LANGUAGES, MAX_BLOCK_HOURS
from chatserver.core.models import Message

# The newest protocol this server speaks. A client says which it speaks in its connect
# `auth` ({protocol: 2}); without it, it is a v1 client and is served as v1 always was.
PROTOCOL_VERSION = 2

# Error codes (ack {error: {code, message}}).
BAD_REQUEST = "bad_request"
TOO_LONG = "too_long"
RATE_LIMITED = "rate_limited"
FORBIDDEN = "forbidden"
UNKNOWN_HELPLINE = "unknown_helpline"
UNKNOWN_TOKEN = "unknown_token"
NOT_IN_CHAT = "not_in_chat"
# The helpline or colleague a chat should go to cannot take it now (closed, away, full).
UNAVAILABLE = "unavailable"
INTERNAL_ERROR = "internal_error"
# Connect refusal: the client asked for a protocol newer than this server's.
UNSUPPORTED_PROTOCOL = "unsupported_protocol"
# The chat's log holds [limits] chat_max_messages or chat_max_bytes: end it, start anew.
CHAT_FULL = "chat_full"

# Limits.
MAX_TEXT_CHARS = 4000
MAX_CLIENT_MSG_ID_CHARS = 64
MAX_TOKEN_CHARS = 128
MAX_CHAT_ID_CHARS = 64
MAX_RESUME_CHATS = 50
MAX_NOTE_CHARS = 1000
# A chat's internal notes (one notepad per chat, handover notes appended to it) and a
# supervisor's hint to a counselor.
MAX_CHAT_NOTES_CHARS = 4000
MAX_HINT_CHARS = 500
# At most this many waiting chats are listed to counselors of a pick-from-queue helpline.
MAX_PICK_LIST = 50
MAX_SESSION_CHARS = 128
MAX_TOPICS = 20
# Every integer a client sends must fit here: JavaScript's Number.MAX_SAFE_INTEGER, far below
# the 64-bit range Redis and orjson handle, so no store ever sees an integer it cannot hold.
MAX_WIRE_INTEGER = 2**53 - 1
# Socket.IO packets larger than this are dropped by the transport before any handler runs.
MAX_PACKET_BYTES = 64 * 1024

# HTTP JSON bodies (chatserver/web/body.py): the deepest nesting any route reads is 2.
MAX_JSON_DEPTH = 8
# HTTP-only error codes: a JSON route given another Content-Type, a refused cross-origin write.
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"

# Used with fullmatch only: `$` in re.match also matches before a trailing newline.
_CLIENT_MSG_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_HELPLINE_ID = re.compile(r"[a-z0-9-]{1,64}")


class ProtocolError(Exception):
    """A request the server refuses; becomes the ack {error: {code, message}}."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def ack(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def iso(t: datetime | None) -> str | None:
    """ISO 8601 with offset, to the second; None stays None (JSON null)."""
    if t is None:
        return None
    return t.isoformat(timespec="seconds")


def utc_iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_payload(message: Message, chat_id: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "seq": message.seq,
        "from": message.sender.value,
        "text": message.text,
        "ts": utc_iso(message.ts),
    }
    if chat_id is not None:
        payload["chat_id"] = chat_id
    return payload


# --- validation -------------------------------------------------------------------------


def _object(data: object) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProtocolError(BAD_REQUEST, "payload must be an object")
    return data


def _string(data: Mapping[str, Any], key: str, *, max_chars: int, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise ProtocolError(BAD_REQUEST, f"'{key}' must be a non-empty string")
    if len(value) > max_chars:
        raise ProtocolError(BAD_REQUEST, f"'{key}' is longer than {max_chars} characters")
    return value


def _seq(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WIRE_INTEGER:
        raise ProtocolError(
            BAD_REQUEST, f"'{key}' must be a whole number from 0 to {MAX_WIRE_INTEGER}"
        )
    return value


@dataclass(frozen=True, slots=True)
class StartRequest:
    helpline: str
    lang: str
    # The widget's random per-tab id (sessionStorage), if it sends one.
    session: str | None = None


def parse_start(data: object) -> StartRequest:
    obj = _object(data)
    helpline = _string(obj, "helpline", max_chars=64)
    if not _HELPLINE_ID.fullmatch(helpline):
        raise ProtocolError(UNKNOWN_HELPLINE, "no such helpline")
    lang = obj.get("lang", "nl")
    if lang not in LANGUAGES:
        raise ProtocolError(BAD_REQUEST, f"'lang' must be one of {', '.join(LANGUAGES)}")
    session = obj.get("session")
    if session is not None:
        session = _string(obj, "session", max_chars=MAX_SESSION_CHARS)
    return StartRequest(helpline=helpline, lang=lang, session=session)


@dataclass(frozen=True, slots=True)
class VisitorResumeRequest:
    token: str
    last_seq: int


def parse_visitor_resume(data: object) -> VisitorResumeRequest:
    obj = _object(data)
    token = _string(obj, "token", max_chars=MAX_TOKEN_CHARS)
    last_seq = _seq(obj.get("last_seq", 0), "last_seq")
    return VisitorResumeRequest(token=token, last_seq=last_seq)


@dataclass(frozen=True, slots=True)
class MessageRequest:
    text: str
    client_msg_id: str
    chat_id: str = ""


def parse_message(data: object, *, with_chat_id: bool) -> MessageRequest:
    obj = _object(data)
    chat_id = _string(obj, "chat_id", max_chars=MAX_CHAT_ID_CHARS) if with_chat_id else ""
    text = obj.get("text")
    if not isinstance(text, str):
        raise ProtocolError(BAD_REQUEST, "'text' must be a string")
    if len(text) > MAX_TEXT_CHARS:
        raise ProtocolError(TOO_LONG, f"a message holds at most {MAX_TEXT_CHARS} characters")
    if not text.strip():
        raise ProtocolError(BAD_REQUEST, "'text' must not be empty")
    client_msg_id = obj.get("client_msg_id")
    if not isinstance(client_msg_id, str) or not _CLIENT_MSG_ID.fullmatch(client_msg_id):
        raise ProtocolError(
            BAD_REQUEST,
            "'client_msg_id' must be 1 to 64 characters of letters, digits and _ . : -",
        )
    return MessageRequest(text=text, client_msg_id=client_msg_id, chat_id=chat_id)


def parse_typing(data: object, *, with_chat_id: bool) -> tuple[str, bool]:
    obj = _object(data)
    chat_id = _string(obj, "chat_id", max_chars=MAX_CHAT_ID_CHARS) if with_chat_id else ""
    typing = obj.get("typing")
    if not isinstance(typing, bool):
        raise ProtocolError(BAD_REQUEST, "'typing' must be true or false")
    return chat_id, typing


def parse_chat_id(data: object) -> str:
    return _string(_object(data), "chat_id", max_chars=MAX_CHAT_ID_CHARS)


def parse_client_protocol(auth: object) -> int:
    """The protocol version a client declared on connect (1 when it declared none)."""
    version = auth.get("protocol", 1) if isinstance(auth, Mapping) else 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProtocolError(BAD_REQUEST, "'protocol' must be a whole number from 1")
    if version > PROTOCOL_VERSION:
        raise ProtocolError(
            UNSUPPORTED_PROTOCOL, f"this server speaks protocol 1 to {PROTOCOL_VERSION}"
        )
    return version


def parse_empty(data: object) -> None:
    _object(data)


def parse_availability(data: object) -> bool:
    available = _object(data).get("available")
    if not isinstance(available, bool):
        raise ProtocolError(BAD_REQUEST, "'available' must be true or false")
    return available


def parse_counselor_resume(data: object) -> dict[str, int]:
    obj = _object(data)
    last_seq = obj.get("last_seq", {})
    if not isinstance(last_seq, dict):
        raise ProtocolError(BAD_REQUEST, "'last_seq' must be an object of chat_id: seq")
    if len(last_seq) > MAX_RESUME_CHATS:
        raise ProtocolError(BAD_REQUEST, "too many chats in 'last_seq'")
    out: dict[str, int] = {}
    for chat_id, seq in last_seq.items():
        if not isinstance(chat_id, str) or not 0 < len(chat_id) <= MAX_CHAT_ID_CHARS:
            raise ProtocolError(BAD_REQUEST, "'last_seq' keys must be chat ids")
        out[chat_id] = _seq(seq, f"last_seq.{chat_id}")
    return out


@dataclass(frozen=True, slots=True)
class TransferRequest:
    chat_id: str
    helpline: str | None
    colleague: str | None
    note: str


def parse_transfer(data: object) -> TransferRequest:
    obj = _object(data)
    chat_id = _string(obj, "chat_id", max_chars=MAX_CHAT_ID_CHARS)
    helpline = _string(obj, "helpline", max_chars=64, required=False) or None
    colleague = _string(obj, "counselor", max_chars=64, required=False) or None
    if (helpline is None) == (colleague is None):
        raise ProtocolError(BAD_REQUEST, "give either 'helpline' or 'counselor'")
    note = obj.get("note", "")
    if not isinstance(note, str):
        raise ProtocolError(BAD_REQUEST, "'note' must be a string")
    if len(note) > MAX_NOTE_CHARS:
        raise ProtocolError(TOO_LONG, f"a handover note holds at most {MAX_NOTE_CHARS} characters")
    return TransferRequest(chat_id, helpline, colleague, note.strip())


def parse_note(data: object) -> tuple[str, str]:
    """`note {chat_id, text}`: the chat's whole notepad; an empty text clears it."""
    obj = _object(data)
    chat_id = _string(obj, "chat_id", max_chars=MAX_CHAT_ID_CHARS)
    text = obj.get("text")
    if not isinstance(text, str):
        raise ProtocolError(BAD_REQUEST, "'text' must be a string")
    if len(text) > MAX_CHAT_NOTES_CHARS:
        raise ProtocolError(TOO_LONG, f"notes hold at most {MAX_CHAT_NOTES_CHARS} characters")
    return chat_id, text


def parse_block(data: object, default_hours: int) -> tuple[str, int]:
    obj = _object(data)
    chat_id = _string(obj, "chat_id", max_chars=MAX_CHAT_ID_CHARS)
    hours = obj.get("hours", default_hours)
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_BLOCK_HOURS:
        raise ProtocolError(
            BAD_REQUEST, f"'hours' must be a whole number from 1 to {MAX_BLOCK_HOURS}"
        )
    return chat_id, hours


@dataclass(frozen=True, slots=True)
class Tags:
    """What a counselor records about a contact: counted per day, never kept with the chat.

    outcome None: a v1 client that sends none (counted as outcome_unspecified).
    """

    outcome: str | None
    topics: tuple[str, ...] = ()

    def counters(self) -> tuple[str, ...]:
        outcome = f"outcome_{self.outcome}" if self.outcome else "outcome_unspecified"
        return (outcome, *(f"topic_{topic}" for topic in self.topics))


def parse_tags(
    obj: Mapping[str, Any],
    outcomes: tuple[str, ...],
    topics: tuple[str, ...],
    *,
    outcome_required: bool,
) -> Tags:
    """`outcome` one of the helpline's outcome ids, `topics` a list of its topic ids."""
    outcome = obj.get("outcome")
    if outcome is None and not outcome_required:
        pass
    elif not isinstance(outcome, str) or outcome not in outcomes:
        raise ProtocolError(BAD_REQUEST, f"'outcome' must be one of {', '.join(outcomes)}")
    chosen = obj.get("topics", [])
    if chosen is None:
        chosen = []
    if (
        not isinstance(chosen, list)
        or len(chosen) > MAX_TOPICS
        or not all(isinstance(t, str) and t in topics for t in chosen)
    ):
        known = ", ".join(topics) or "(none)"
        raise ProtocolError(BAD_REQUEST, f"'topics' must be a list of these ids: {known}")
    return Tags(outcome=outcome, topics=tuple(dict.fromkeys(chosen)))


@dataclass(frozen=True, slots=True)
class EndRequest:
    chat_id: str
    # The raw payload: its outcome and topics are checked against the chat's helpline.
    payload: Mapping[str, Any]


def parse_end(data: object) -> EndRequest:
    obj = _object(data)
    return EndRequest(_string(obj, "chat_id", max_chars=MAX_CHAT_ID_CHARS), obj)
