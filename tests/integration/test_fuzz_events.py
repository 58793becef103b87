"""Property-based fuzzing of everything a client can send, against one real in-process server.

Hypothesis generates payloads of every JSON shape for every client event on both namespaces
(plus unknown and reserved event names) and raw Engine.IO/Socket.IO text frames. Each answer
must be a result or an error with a documented code, never internal_error; afterwards the
queue is numbered 1..n without gaps, no count is negative and an ordinary visitor can still
start a chat. Connections are reused between examples, so the run stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatserver.protocol import MAX_PACKET_BYTES
from chatserver.realtime import base
from chatserver.web.keys import BOARD
from tests.helpers import Client
from tests.integration.conftest import Server, ServerFactory

DOCUMENTED_CODES = {
    "bad_request",
    "too_long",
    "rate_limited",
    "forbidden",
    "unknown_helpline",
    "unknown_token",
    "not_in_chat",
    "unavailable",
    "chat_full",  # protocol 1.1 chat caps (on main since this test was written)
}
VISITOR_EVENTS = ["start", "resume", "message", "typing", "end"]
COUNSELOR_EVENTS = ["availability", "resume", "message", "typing", "end", "transfer", "block"]
ODD_EVENTS = ["connect", "disconnect", "connect_error", "disconnecting", "*", "", "ping", "x" * 300]
FIELDS = [
    "helpline", "lang", "session", "token", "last_seq", "text", "client_msg_id", "typing",
    "chat_id", "available", "counselor", "note", "hours", "outcome", "topics",
]  # fmt: skip


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )


scalars = st.one_of(
    st.none(),
    st.booleans(),
    # orjson's range (the in-process client encodes with it too); the raw frames go beyond.
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    # Around the 4000-character limit, in any one character (cheap to draw).
    st.builds(lambda char, n: char * n, st.characters(codec="utf-8"), st.integers(3990, 4010)),
    st.sampled_from(["alpha", "shut", "nl", "en", "ok\n", "carla", "sextortion", "a" * 65]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
# Objects with the contract's field names, so validation gets past the first check.
shaped = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5)
payloads = st.one_of(shaped, json_values)


@st.composite
def calls(draw: st.DrawFn, events: list[str]) -> tuple[str, tuple[Any, ...]]:
    event = draw(st.one_of(st.sampled_from(events), st.sampled_from(ODD_EVENTS)))
    args = draw(st.lists(payloads, max_size=2))
    return event, tuple(args)


@dataclass
class Fuzzing:
    server: Server
    visitor: Client | None = None
    counselor: Client | None = None
    sent: int = 0

    async def connect(self) -> tuple[Client, Client]:
        """After the examples are drawn: drawing blocks the loop, and idle clients time out."""
        self.visitor = self.server.visitor()
        await self.visitor.connect()
        self.counselor = await self.server.counselor("carla")
        return self.visitor, self.counselor

    async def fresh_visitor(self) -> Client:
        """A visitor whose chat ended can start no other: give the fuzzer a new one."""
        if self.visitor is not None:
            await self.visitor.disconnect()
        self.visitor = self.server.visitor()
        await self.visitor.connect()
        return self.visitor


@pytest.fixture
async def fuzzing(make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch) -> Fuzzing:
    # Connection rate limits would answer most generated events with rate_limited before
    # any other check; the fuzzer wants the checks behind them.
    monkeypatch.setattr(base.GuardedNamespace, "_allowed", lambda *_: True)
    return Fuzzing(await make_server())


def assert_documented(ack: Any, sent: str) -> None:
    assert isinstance(ack, dict), (sent, ack)
    if "error" in ack:
        error = ack["error"]
        assert set(error) == {"code", "message"}, (sent, ack)
        assert error["code"] in DOCUMENTED_CODES, (sent, ack)
        assert isinstance(error["message"], str)


async def assert_invariants(server: Server) -> None:
    board = server.app[BOARD]
    await board.drain()
    for helpline in ("alpha", "shut"):
        ids = await board.store.waiting_ids(helpline)
        positions = [await board.store.queue_position(helpline, chat_id) for chat_id in ids]
        assert positions == list(range(1, len(ids) + 1))
        assert (await board.store.queue_summary(helpline)).waiting == len(ids)
    today = server.clock().date()
    for day in await board.store.daily_counts(today - timedelta(days=1), today):
        assert all(value >= 0 for value in day.counts.values()), day


async def an_ordinary_visitor_can_chat(server: Server) -> None:
    # Visitors the fuzzer left behind are gone once their grace period is over.
    server.clock.advance(120)
    await server.tick()
    visitor = Client(server.url, "/visitor")
    await visitor.connect()
    try:
        ack = await visitor.call("start", {"helpline": "alpha", "lang": "en"})
        assert ack.get("status") in {"queued", "chatting"}, ack
        reply = await visitor.call("message", {"text": "hello", "client_msg_id": "ordinary"})
        assert reply.get("seq", 0) >= 1, reply
    finally:
        await visitor.disconnect()


def drawn(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """count examples of strategy, drawn by Hypothesis; they then run on the server's loop.

    Hypothesis drives synchronous tests; the server and its clients live on this test's
    event loop, so the examples are drawn first and sent afterwards.
    """
    examples: list[Any] = []

    @fuzz_settings(count)
    @given(strategy)
    def collect(example: Any) -> None:
        examples.append(example)

    collect()
    return examples


def socketio_args(args: tuple[Any, ...]) -> Any:
    """python-socketio's call(): a tuple is several arguments, None is none."""
    return args[0] if len(args) == 1 else (args or None)


async def test_every_generated_event_gets_a_documented_answer(fuzzing: Fuzzing) -> None:
    examples = drawn(
        st.tuples(
            st.lists(calls(VISITOR_EVENTS), max_size=8),
            st.lists(calls(COUNSELOR_EVENTS), max_size=8),
        ),
        1200,
    )
    visitor, counselor = await fuzzing.connect()
    for number, (visitor_calls, counselor_calls) in enumerate(examples):
        if number % 40 == 39:
            visitor = await fuzzing.fresh_visitor()
        for client, namespace, batch in (
            (visitor, "/visitor", visitor_calls),
            (counselor, "/counselor", counselor_calls),
        ):
            for event, args in batch:
                if len(orjson.dumps(args)) > MAX_PACKET_BYTES - 1024:
                    continue  # the transport drops it and closes the connection (§2)
                ack = await client.sio.call(event, socketio_args(args), namespace, timeout=5)
                assert_documented(ack, f"{namespace} {event} {args!r}")
                fuzzing.sent += 1
        await assert_invariants(fuzzing.server)
    print(f"fuzzed {fuzzing.sent} events in {len(examples)} examples")
    await visitor.disconnect()
    await an_ordinary_visitor_can_chat(fuzzing.server)


# --- raw frames -------------------------------------------------------------------------

engineio_garbage = st.text(max_size=40)
socketio_frames = st.builds(
    lambda kind, attachments, namespace, ack_id, body: (
        f"4{kind}{attachments}{namespace}{ack_id}{body}"
    ),
    st.sampled_from("0123456789x"),
    st.sampled_from(["", "", "1-", "9999999-", "-"]),
    st.sampled_from(["", "/visitor,", "/counselor,", "/nope,", "/visitor"]),
    st.sampled_from(["", "", "7", "1" * 30]),
    st.one_of(
        json_values.map(json.dumps),
        st.integers().map(lambda n: f'["typing",{{"typing":{n}}}]'),
        st.text(max_size=30),
    ),
)
frames = st.one_of(socketio_frames, engineio_garbage, st.sampled_from(["2", "3", "5", "6", "1"]))
PROBE_ID = 424242


class RawConnection:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reopened = 0

    async def open(self) -> aiohttp.ClientWebSocketResponse:
        if self.http is None:
            self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(f"{self.url}/socket.io/?EIO=4&transport=websocket")
        assert (await self.ws.receive_str(timeout=5)).startswith("0{")
        await self.ws.send_str("40/visitor,")
        self.reopened += 1
        return self.ws

    async def reopen(self) -> aiohttp.ClientWebSocketResponse:
        if self.ws is not None:
            await self.ws.close()
        return await self.open()

    async def alive(self, timeout: float) -> bool:
        """Send a valid event and wait for its ack; False if none comes (closed or silent)."""
        assert self.ws is not None
        try:
            await self.ws.send_str(f'42/visitor,{PROBE_ID}["typing",{{"typing":true}}]')
            async with asyncio.timeout(timeout):
                while True:
                    message = await self.ws.receive()
                    if message.type != aiohttp.WSMsgType.TEXT:
                        return False
                    if message.data == "2":
                        await self.ws.send_str("3")
                    elif message.data.startswith(f"43/visitor,{PROBE_ID}"):
                        assert_documented(json.loads(message.data.split(",", 1)[1][6:])[0], "probe")
                        return True
        except (ConnectionError, RuntimeError, TimeoutError):
            return False

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()


async def test_raw_frames_never_break_the_server(fuzzing: Fuzzing) -> None:
    examples = drawn(st.lists(frames, min_size=1, max_size=10), 1500)
    raw = RawConnection(fuzzing.server.url)
    ws = await raw.open()
    sent = 0
    try:
        for batch in examples:
            for frame in batch:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_str(frame)
                sent += 1
            # A client CLOSE or namespace DISCONNECT ends the connection without an answer.
            ended = any(frame.startswith(("1", "41")) for frame in batch)
            if ended or not await raw.alive(timeout=1):
                ws = await raw.reopen()
                assert await raw.alive(timeout=5), "a fresh connection gets no answer"
            await assert_invariants(fuzzing.server)
    finally:
        await raw.close()
    print(f"sent {sent} raw frames; the server closed the connection {raw.reopened - 1} times")
    await an_ordinary_visitor_can_chat(fuzzing.server)
