"""A visitor and a counselor, end to end over real Socket.IO connections."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from chatserver.web.keys import BOARD
from tests.integration.conftest import START, Server, ServerFactory

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


async def test_closed_helpline_answers_closed_with_the_exact_next_opening(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    # Wednesday 14:00; "shut" opens by exception on Thursday 3 December at 19:00.
    ack = await visitor.call("start", {"helpline": "shut", "lang": "en"})
    assert ack["status"] == "closed"
    assert ack["opens_at"] == "2026-12-03T19:00:00+01:00"
    assert "Thursday 3 December at 19:00" in ack["message"]
    assert "token" not in ack


async def test_last_admission_minutes_before_closing_counts_as_closed(
    make_server: ServerFactory,
) -> None:
    # Alpha closes at 17:00 on Wednesdays and admits nobody from 16:50 on.
    server = await make_server(now=datetime(2026, 12, 2, 16, 51, tzinfo=AMSTERDAM))
    visitor = server.visitor()
    await visitor.connect()
    ack = await visitor.call("start", {"helpline": "alpha"})
    assert ack["status"] == "closed"
    assert ack["opens_at"] == "2026-12-03T00:00:00+01:00"


async def test_unknown_helpline_and_malformed_payloads_get_their_codes(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    assert (await visitor.call("start", {"helpline": "nope"}))["error"][
        "code"
    ] == "unknown_helpline"
    for bad in (None, "alpha", 42, [], {"helpline": 5}, {"helpline": "alpha", "lang": "de"}):
        ack = await visitor.call("start", bad)
        assert ack["error"]["code"] in {"bad_request", "unknown_helpline"}, bad
    assert (await visitor.call("message", {"text": "hi", "client_msg_id": "m1"}))["error"][
        "code"
    ] == "not_in_chat"
    assert (await visitor.call("no_such_event", {}))["error"]["code"] == "bad_request"
    assert (await visitor.call("resume", {"token": "forged-token"}))["error"][
        "code"
    ] == "unknown_token"
    # Nothing of this changed any state: the queue is empty and nothing was counted.
    store = server.app[BOARD].store
    assert await store.waiting("alpha") == []
    assert await store.daily_counts(START.date(), START.date()) == []


async def test_four_visitors_with_max_queue_three_get_1_2_3_and_full(server: Server) -> None:
    acks = []
    for _ in range(4):
        visitor = server.visitor()
        await visitor.connect()
        acks.append(await visitor.call("start", {"helpline": "alpha"}))
    assert [a["status"] for a in acks] == ["queued", "queued", "queued", "full"]
    assert [a.get("position") for a in acks[:3]] == [1, 2, 3]
    assert "busy" in acks[3]["message"] or "druk" in acks[3]["message"]


async def test_counselor_with_two_slots_gets_the_first_two_then_the_third_when_one_ends(
    server: Server,
) -> None:
    visitors = []
    for _ in range(3):
        visitor = server.visitor()
        await visitor.connect()
        assert (await visitor.call("start", {"helpline": "alpha"}))["status"] == "queued"
        visitors.append(visitor)
    counselor = await server.counselor("carla")
    first = await counselor.next("assigned")
    second = await counselor.next("assigned")
    assert (await visitors[0].next("assigned"))["counselor_name"] == "Carla"
    assert (await visitors[1].next("assigned"))["counselor_name"] == "Carla"
    await counselor.nothing("assigned")
    await visitors[2].until("queue", lambda q: q["position"] == 1)

    assert await counselor.call("end", {"chat_id": first["chat_id"]}) == {"ok": True}
    assert (await visitors[0].next("ended"))["reason"] == "counselor"
    third = await counselor.next("assigned")
    assert third["chat_id"] not in {first["chat_id"], second["chat_id"]}
    assert (await visitors[2].next("assigned"))["counselor_name"] == "Carla"


async def test_messages_go_both_ways_with_seq_and_a_retry_is_delivered_once(
    server: Server,
) -> None:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    # Written while waiting: the counselor gets it with the assignment.
    assert (await visitor.call("message", {"text": "hallo?", "client_msg_id": "v1"}))["seq"] == 1
    counselor = await server.counselor("carla")
    assigned = await counselor.next("assigned")
    chat_id = assigned["chat_id"]
    assert [m["text"] for m in assigned["messages"]] == ["hallo?"]
    assert assigned["waited_s"] >= 0

    ack = await counselor.call(
        "message", {"chat_id": chat_id, "text": "Hoi, ik ben Carla.", "client_msg_id": "c1"}
    )
    assert ack["seq"] == 2
    got = await visitor.next("message")
    assert (got["seq"], got["from"], got["text"]) == (2, "counselor", "Hoi, ik ben Carla.")

    ack = await visitor.call("message", {"text": "Ik wil iets vragen", "client_msg_id": "v2"})
    assert ack["seq"] == 3
    got = await counselor.next("message")
    assert (got["chat_id"], got["seq"], got["from"]) == (chat_id, 3, "visitor")

    retry = await visitor.call("message", {"text": "Ik wil iets vragen", "client_msg_id": "v2"})
    assert retry == ack
    await counselor.nothing("message")

    await visitor.call("typing", {"typing": True})
    assert await counselor.next("typing") == {"chat_id": chat_id, "typing": True}
    await counselor.call("typing", {"chat_id": chat_id, "typing": True})
    assert await visitor.next("typing") == {"typing": True}


async def test_message_over_4000_characters_is_too_long_and_not_stored(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    ack = await visitor.call("message", {"text": "x" * 4001, "client_msg_id": "big"})
    assert ack["error"]["code"] == "too_long"
    assert (await visitor.call("message", {"text": "x" * 4000, "client_msg_id": "ok"}))["seq"] == 1


async def test_a_flood_of_messages_is_rate_limited(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    codes = []
    for n in range(30):
        ack = await visitor.call("message", {"text": "spam", "client_msg_id": f"m{n}"})
        codes.append(ack.get("error", {}).get("code", "ok"))
    assert "rate_limited" in codes
    assert codes.count("ok") <= 12


async def test_visitor_resume_returns_exactly_the_messages_after_last_seq(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    token = (await visitor.call("start", {"helpline": "alpha"}))["token"]
    counselor = await server.counselor("carla")
    chat_id = (await counselor.next("assigned"))["chat_id"]
    for n in range(1, 4):
        await counselor.call(
            "message", {"chat_id": chat_id, "text": f"bericht {n}", "client_msg_id": f"c{n}"}
        )
    assert [(await visitor.next("message"))["seq"] for _ in range(3)] == [1, 2, 3]
    await visitor.disconnect()
    # Sent while the visitor is away.
    for n in range(4, 6):
        await counselor.call(
            "message", {"chat_id": chat_id, "text": f"bericht {n}", "client_msg_id": f"c{n}"}
        )
    presence = await counselor.next("visitor_presence")
    assert presence == {"chat_id": chat_id, "connected": False}

    again = server.visitor()
    await again.connect()
    ack = await again.call("resume", {"token": token, "last_seq": 3})
    assert ack["status"] == "chatting"
    assert ack["counselor_name"] == "Carla"
    assert [(m["seq"], m["text"]) for m in ack["messages"]] == [(4, "bericht 4"), (5, "bericht 5")]
    assert (await counselor.next("visitor_presence"))["connected"] is True
    # The chat goes on.
    await again.call("message", {"text": "ik ben er weer", "client_msg_id": "v9"})
    assert (await counselor.next("message"))["seq"] == 6


async def test_visitor_keeps_queue_place_within_grace_and_is_abandoned_after(
    server: Server,
) -> None:
    first, second = server.visitor(), server.visitor()
    await first.connect()
    await second.connect()
    token = (await first.call("start", {"helpline": "alpha"}))["token"]
    await second.call("start", {"helpline": "alpha"})
    # A visitor who wrote something keeps the full grace (a silent one only a short one).
    await first.call("message", {"text": "is er iemand?", "client_msg_id": "v1"})
    await first.disconnect()
    await server.until_visitor_gone(token)
    server.clock.advance(59)
    await server.tick()
    again = server.visitor()
    await again.connect()
    ack = await again.call("resume", {"token": token})
    assert (ack["status"], ack["position"]) == ("queued", 1)
    await again.disconnect()
    await server.until_visitor_gone(token)
    server.clock.advance(61)
    await server.tick()
    await second.until("queue", lambda q: q["position"] == 1)
    late = server.visitor()
    await late.connect()
    assert (await late.call("resume", {"token": token}))["status"] == "ended"


async def test_visitor_end_tells_the_counselor(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    counselor = await server.counselor("carla")
    chat_id = (await counselor.next("assigned"))["chat_id"]
    assert await visitor.call("end", {}) == {"ok": True}
    assert await counselor.next("ended") == {"chat_id": chat_id, "reason": "visitor"}
    assert (await visitor.call("end", {}))["error"]["code"] == "not_in_chat"
    ack = await counselor.call("message", {"chat_id": chat_id, "text": "x", "client_msg_id": "c"})
    assert ack["error"]["code"] == "not_in_chat"


async def test_a_server_fault_answers_internal_error_and_logs_no_visitor_text(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    marker = "FAULT-MARKER-visitor-wrote-this"

    async def broken(*args: object, **kwargs: object) -> None:
        raise ValueError(f"could not store {marker}")

    monkeypatch.setattr(server.app[BOARD].store, "append_message", broken)
    ack = await visitor.call("message", {"text": marker, "client_msg_id": "m1"})
    assert ack["error"]["code"] == "internal_error"
    assert "ValueError" in caplog.text
    assert marker not in caplog.text
