"""Counselors: login on connect, several tabs, reconnects and the grace period."""

from __future__ import annotations

import pytest
import socketio

from chatserver.web.keys import BOARD
from tests.helpers import Client
from tests.integration.conftest import START, Server


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
