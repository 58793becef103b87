"""Counselors: login on connect, several tabs, reconnects and the grace period."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import socketio

from chatserver.web.keys import BOARD
from tests.helpers import Client
from tests.integration.conftest import START, TEST_CONFIG, Server, ServerFactory

# Thursday 3 December 2026, 20:00: "alpha" and (by exception) "shut" are both open.
THURSDAY_EVENING = datetime(2026, 12, 3, 20, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))


async def test_only_logged_in_counselors_may_connect(server: Server) -> None:
    await server.add_account("maud", role="manager")
    for auth, code in (
        (None, "unauthorized"),
        ({"token": "forged"}, "unauthorized"),
        ({"token": await server.login("maud")}, "forbidden"),
    ):
        client = Client(server.url, "/counselor")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(auth=auth)
        refusal = await client.next("connect_error")
        assert refusal["message"] == code
        assert refusal["data"]["code"] == code


async def test_session_cookie_is_accepted_instead_of_a_token(server: Server) -> None:
    await server.add_account("carla")
    token = await server.login("carla")
    client = Client(server.url, "/counselor")
    server.clients.append(client)
    await client.connect(headers={"Cookie": f"chatserver_session={token}"})
    stats = await client.next("queue_stats")
    assert set(stats["helplines"]) == {"alpha", "shut"}
    assert stats["helplines"]["alpha"] == {
        "waiting": 0,
        "longest_wait_s": 0,
        "open": True,
        "accepting": True,
        "closes_at": "2026-12-02T17:00:00+01:00",
    }


async def test_a_counselor_only_gets_visitors_of_their_helplines(server: Server) -> None:
    counselor = await server.counselor("sam", helplines=("shut",))
    visitor = server.visitor()
    await visitor.connect()
    assert (await visitor.call("start", {"helpline": "alpha"}))["status"] == "queued"
    await counselor.nothing("assigned")
    await visitor.nothing("assigned")


async def test_messages_reach_the_counselors_other_tabs_but_not_the_sending_one(
    server: Server,
) -> None:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    tab_a = await server.counselor("carla")
    tab_b = await server.counselor("carla", available=False)
    chat_id = (await tab_a.next("assigned"))["chat_id"]
    assert [c["chat_id"] for c in (await tab_b.call("resume", {}))["chats"]] == [chat_id]
    await tab_a.call("message", {"chat_id": chat_id, "text": "hoi", "client_msg_id": "c1"})
    assert (await tab_b.next("message"))["text"] == "hoi"
    assert (await visitor.next("message"))["text"] == "hoi"
    await tab_a.nothing("message")


async def test_a_counselor_cannot_touch_someone_elses_chat(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    carla = await server.counselor("carla")
    chat_id = (await carla.next("assigned"))["chat_id"]
    other = await server.counselor("otto", available=False)
    for event, data in (
        ("message", {"chat_id": chat_id, "text": "x", "client_msg_id": "o1"}),
        ("typing", {"chat_id": chat_id, "typing": True}),
        ("end", {"chat_id": chat_id}),
    ):
        assert (await other.call(event, data))["error"]["code"] == "not_in_chat"
    assert (await other.call("availability", {"available": "yes"}))["error"]["code"] == (
        "bad_request"
    )


async def test_counselor_who_reconnects_gets_active_chats_back_with_missed_messages(
    server: Server,
) -> None:
    visitors, chat_ids = [], []
    for _ in range(2):
        visitor = server.visitor()
        await visitor.connect()
        chat_ids.append((await visitor.call("start", {"helpline": "alpha"}))["chat_id"])
        visitors.append(visitor)
    counselor = await server.counselor("carla")
    assert sorted([(await counselor.next("assigned"))["chat_id"] for _ in range(2)]) == sorted(
        chat_ids
    )
    await counselor.disconnect()
    await server.until_counselor_gone("carla")
    await visitors[0].call("message", {"text": "ben je er nog?", "client_msg_id": "v1"})
    await visitors[1].call("message", {"text": "hallo", "client_msg_id": "v1"})
    await visitors[1].call("message", {"text": "hallo??", "client_msg_id": "v2"})
    server.clock.advance(30)
    await server.tick()

    again = await server.counselor("carla", available=False)
    ack = await again.call("resume", {"last_seq": {chat_ids[0]: 0, chat_ids[1]: 1}})
    texts = {c["chat_id"]: [m["text"] for m in c["messages"]] for c in ack["chats"]}
    assert texts == {chat_ids[0]: ["ben je er nog?"], chat_ids[1]: ["hallo??"]}


async def test_chats_of_a_counselor_gone_past_the_grace_period_go_back_to_the_front(
    server: Server,
) -> None:
    first = server.visitor()
    await first.connect()
    await first.call("start", {"helpline": "alpha"})
    carla = await server.counselor("carla")
    chat_id = (await carla.next("assigned"))["chat_id"]
    await carla.call("message", {"chat_id": chat_id, "text": "hoi", "client_msg_id": "c1"})
    late = server.visitor()
    await late.connect()
    await late.call("start", {"helpline": "alpha"})
    await carla.disconnect()
    await server.until_counselor_gone("carla")
    server.clock.advance(61)
    await server.tick()

    system = await first.until("message", lambda m: m["from"] == "system")
    assert system["seq"] == 2
    assert (await first.until("queue", lambda q: q["position"] == 1))["position"] == 1
    assert (await late.until("queue", lambda q: q["position"] == 2))["position"] == 2

    otto = await server.counselor("otto")
    assigned = await otto.next("assigned")
    assert assigned["chat_id"] == chat_id
    assert [m["from"] for m in assigned["messages"]] == ["counselor", "system"]
    assert (await first.next("assigned"))["counselor_name"] == "Carla"
    assert (await first.next("assigned"))["counselor_name"] == "Otto"
    assert (await late.next("assigned"))["counselor_name"] == "Carla"
    assert (await late.next("assigned"))["counselor_name"] == "Otto"
    # Answered once per contact, however often a chat is handed over.
    days = await server.app[BOARD].store.daily_counts(START.date(), START.date())
    assert days[0].counts["answered"] == 2


async def test_each_chat_has_its_own_message_budget_but_a_flood_is_still_refused(
    server: Server,
) -> None:
    chat_ids = []
    for _ in range(2):
        visitor = server.visitor()
        await visitor.connect()
        chat_ids.append((await visitor.call("start", {"helpline": "alpha"}))["chat_id"])
    carla = await server.counselor("carla")
    for _ in range(2):
        await carla.next("assigned")
    for chat_id in chat_ids:
        for n in range(8):
            ack = await carla.call(
                "message", {"chat_id": chat_id, "text": f"canned {n}", "client_msg_id": f"m{n}"}
            )
            assert "seq" in ack, ack
    codes = []
    for n in range(30):
        ack = await carla.call(
            "message", {"chat_id": chat_ids[0], "text": "flood", "client_msg_id": f"f{n}"}
        )
        codes.append(ack.get("error", {}).get("code", "ok"))
    assert "rate_limited" in codes


async def test_transfer_to_another_helpline_puts_the_chat_first_with_the_note(
    make_server: ServerFactory,
) -> None:
    server = await make_server(now=THURSDAY_EVENING)  # both helplines open
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    carla = await server.counselor("carla", helplines=("alpha",))
    chat_id = (await carla.next("assigned"))["chat_id"]
    await visitor.call(
        "message", {"text": "het gaat eigenlijk over iets anders", "client_msg_id": "v1"}
    )
    await carla.next("message")
    waiting = server.visitor()
    await waiting.connect()
    await waiting.call("start", {"helpline": "shut"})

    ack = await carla.call(
        "transfer", {"chat_id": chat_id, "helpline": "shut", "note": "Vraag over beelden online."}
    )
    assert ack == {"ok": True}
    assert await carla.next("ended") == {"chat_id": chat_id, "reason": "transferred"}
    system = await visitor.until("message", lambda m: m["from"] == "system")
    assert "Shut" in system["text"]
    assert (await visitor.until("queue", lambda q: q["position"] == 1))["position"] == 1

    sam = await server.counselor("sam", helplines=("shut",))
    first = await sam.next("assigned")
    assert first["chat_id"] == chat_id
    assert first["helpline"] == "shut"
    assert first["handover_note"] == "Vraag over beelden online."
    assert first["messages"][0]["text"] == "het gaat eigenlijk over iets anders"
    assert await visitor.until("assigned", lambda a: a["counselor_name"] == "Sam")
    # The visitor never sees the note.
    assert all("beelden" not in m["text"] for m in visitor.drain("message"))


async def test_transfer_to_a_named_colleague_and_refusals(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    carla = await server.counselor("carla")
    chat_id = (await carla.next("assigned"))["chat_id"]
    away = await server.counselor("otto", available=False)
    refused = await carla.call("transfer", {"chat_id": chat_id, "counselor": "otto"})
    assert refused["error"]["code"] == "unavailable"
    closed = await carla.call("transfer", {"chat_id": chat_id, "helpline": "shut"})
    assert closed["error"]["code"] == "unavailable"
    both = await carla.call("transfer", {"chat_id": chat_id, "helpline": "alpha", "counselor": "x"})
    assert both["error"]["code"] == "bad_request"
    await away.call("availability", {"available": True})
    ack = await carla.call("transfer", {"chat_id": chat_id, "counselor": "otto", "note": "Let op"})
    assert ack == {"ok": True}
    handed = await away.next("assigned")
    assert (handed["chat_id"], handed["handover_note"]) == (chat_id, "Let op")
    assert await visitor.until("assigned", lambda a: a["counselor_name"] == "Otto")
    await away.call(
        "message", {"chat_id": chat_id, "text": "Hoi, ik neem het over.", "client_msg_id": "o1"}
    )
    assert (await visitor.until("message", lambda m: m["from"] == "counselor"))["text"] == (
        "Hoi, ik neem het over."
    )


async def test_a_blocked_visitor_cannot_resume_or_start_again_from_that_tab(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    ack = await visitor.call("start", {"helpline": "alpha", "session": "tab-secret-1"})
    token = ack["token"]
    carla = await server.counselor("carla")
    chat_id = (await carla.next("assigned"))["chat_id"]
    assert await carla.call("block", {"chat_id": chat_id, "hours": 12}) == {"ok": True}
    assert (await visitor.next("ended"))["reason"] == "blocked"
    assert await carla.next("ended") == {"chat_id": chat_id, "reason": "blocked"}

    again = server.visitor()
    await again.connect()
    assert await again.call("resume", {"token": token}) == {"status": "ended", "reason": "blocked"}
    refused = await again.call("start", {"helpline": "alpha", "session": "tab-secret-1"})
    assert refused["status"] == "blocked"
    assert "token" not in refused
    # Still refused after the tombstone is gone, until the block runs out.
    server.clock.advance(11 * 3600)
    await server.tick()
    assert (await again.call("resume", {"token": token}))["reason"] == "blocked"
    server.clock.advance(3600)
    other = server.visitor()
    await other.connect()
    assert (await other.call("start", {"helpline": "alpha", "session": "tab-secret-1"}))[
        "status"
    ] == "queued"


# --- ending with an outcome and topics ---------------------------------------------------------


async def _chat_with(server: Server, counselor: str) -> tuple[Client, Client, str]:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    client = await server.counselor(counselor)
    return visitor, client, (await client.next("assigned"))["chat_id"]


async def _counts_today(server: Server) -> dict[str, int]:
    days = await server.app[BOARD].store.daily_counts(START.date(), START.date(), "alpha")
    return dict(days[0].counts) if days else {}


async def test_ending_with_an_outcome_and_topics_counts_them_for_the_day(server: Server) -> None:
    visitor, carla, chat_id = await _chat_with(server, "carla")
    ack = await carla.call(
        "end", {"chat_id": chat_id, "outcome": "counselling", "topics": ["sextortion", "grooming"]}
    )
    assert ack == {"ok": True}
    assert (await visitor.next("ended"))["reason"] == "counselor"
    counts = await _counts_today(server)
    assert counts["outcome_counselling"] == 1
    assert counts["topic_sextortion"] == 1
    assert counts["topic_grooming"] == 1
    assert "outcome_unspecified" not in counts


async def test_ending_without_an_outcome_is_counted_as_unspecified(server: Server) -> None:
    _, carla, chat_id = await _chat_with(server, "carla")
    assert await carla.call("end", {"chat_id": chat_id}) == {"ok": True}
    counts = await _counts_today(server)
    assert counts["outcome_unspecified"] == 1
    assert not [name for name in counts if name.startswith("topic_")]


@pytest.mark.parametrize(
    "tags",
    [
        {"outcome": "no-such-outcome"},
        {"outcome": 3},
        {"outcome": "counselling", "topics": ["no-such-topic"]},
        {"outcome": "counselling", "topics": "sextortion"},
        {"outcome": "counselling", "topics": [1]},
    ],
)
async def test_a_bad_outcome_or_topic_is_refused_and_the_chat_stays_open(
    server: Server, tags: dict[str, object]
) -> None:
    visitor, carla, chat_id = await _chat_with(server, "carla")
    refused = await carla.call("end", {"chat_id": chat_id, **tags})
    assert refused["error"]["code"] == "bad_request"
    await visitor.nothing("ended")
    ack = await carla.call(
        "message", {"chat_id": chat_id, "text": "nog daar?", "client_msg_id": "m"}
    )
    assert "seq" in ack
    assert not [name for name in await _counts_today(server) if name.startswith("outcome_")]


async def test_a_block_without_hours_lasts_the_configured_block_hours(
    make_server: ServerFactory,
) -> None:
    server = await make_server(TEST_CONFIG.replace("[server]", "[server]\nblock_hours = 2"))
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha", "session": "tab-secret-2"})
    carla = await server.counselor("carla")
    chat_id = (await carla.next("assigned"))["chat_id"]
    assert await carla.call("block", {"chat_id": chat_id}) == {"ok": True}
    again = server.visitor()
    await again.connect()
    server.clock.advance(2 * 3600 - 60)
    refused = await again.call("start", {"helpline": "alpha", "session": "tab-secret-2"})
    assert refused["status"] == "blocked"
    server.clock.advance(60)
    admitted = await again.call("start", {"helpline": "alpha", "session": "tab-secret-2"})
    assert admitted["status"] == "queued"


# --- auto-away ---------------------------------------------------------------------------------


async def test_an_idle_available_counselor_without_chats_is_set_away_after_idle_minutes(
    server: Server,
) -> None:
    carla = await server.counselor("carla")
    other_tab = await server.counselor("carla", available=False)
    await server.settle()
    carla.drain("availability")
    other_tab.drain("availability")
    server.clock.advance(15 * 60 - 1)
    await server.tick()
    await carla.nothing("availability")
    server.clock.advance(1)
    await server.tick()
    away = {"available": False, "active_chats": 0, "reason": "idle"}
    assert await carla.next("availability") == away
    assert await other_tab.next("availability") == away
    # Away counselors get no visitors.
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    await carla.nothing("assigned")


async def test_any_counselor_event_resets_the_idle_timer(server: Server) -> None:
    carla = await server.counselor("carla")
    carla.drain("availability")
    server.clock.advance(10 * 60)
    assert await carla.call("resume", {}) == {"chats": []}
    server.clock.advance(10 * 60)
    await server.tick()
    await carla.nothing("availability")
    server.clock.advance(5 * 60)
    await server.tick()
    assert (await carla.next("availability"))["reason"] == "idle"


async def test_a_counselor_in_a_chat_is_never_set_away_for_idleness(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    carla = await server.counselor("carla")
    await carla.next("assigned")
    carla.drain("availability")
    server.clock.advance(60 * 60)
    await server.tick()
    await carla.nothing("availability")


async def test_idle_minutes_come_from_the_config(make_server: ServerFactory) -> None:
    server = await make_server(
        TEST_CONFIG.replace("[server]", "[server]\ncounselor_idle_minutes = 2")
    )
    carla = await server.counselor("carla")
    carla.drain("availability")
    server.clock.advance(2 * 60)
    await server.tick()
    assert (await carla.next("availability"))["reason"] == "idle"
