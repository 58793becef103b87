"""Protocol 2: a console confirms every assignment, and a console that stops answering is let go.

A visitor hears "a counselor is here" only after the counselor's console said it has the
chat. An offer nobody confirms goes back to the front of the queue, and the counselor is set
unavailable with the reason on every tab.
"""

from __future__ import annotations

import asyncio

import pytest
import socketio

from chatserver.web.keys import BOARD, SIO
from tests.helpers import Client
from tests.integration.conftest import START, Server

CONFIRM_SECONDS = 10  # the default [server] assignment_confirm_seconds


async def _counts_today(server: Server) -> dict[str, int]:
    days = await server.app[BOARD].store.daily_counts(START.date(), START.date(), "alpha")
    return dict(days[0].counts) if days else {}


async def _queued_visitor(server: Server) -> tuple[Client, str]:
    visitor = server.visitor()
    await visitor.connect()
    ack = await visitor.call("start", {"helpline": "alpha"})
    assert ack["status"] == "queued"
    return visitor, ack["token"]


async def test_the_visitor_hears_assigned_only_after_the_console_accepts(server: Server) -> None:
    visitor, _ = await _queued_visitor(server)
    carla = await server.counselor("carla", protocol=2)
    offer = await carla.next("assigned")
    assert offer["accepted"] is False
    await visitor.nothing("assigned")
    assert (await _counts_today(server)).get("answered", 0) == 0

    assert await carla.call("accept", {"chat_id": offer["chat_id"]}) == {"ok": True}
    assert (await visitor.next("assigned"))["counselor_name"] == "Carla"
    assert (await _counts_today(server))["answered"] == 1
    # Accepting again changes nothing and tells nobody anything new.
    assert await carla.call("accept", {"chat_id": offer["chat_id"]}) == {"ok": True}
    await visitor.nothing("assigned")
    assert (await _counts_today(server))["answered"] == 1


async def test_a_visitor_resuming_during_the_offer_is_first_in_line(server: Server) -> None:
    visitor, token = await _queued_visitor(server)
    carla = await server.counselor("carla", protocol=2)
    await carla.next("assigned")
    resumed = await visitor.call("resume", {"token": token})
    assert resumed["status"] == "queued"
    assert resumed["position"] == 1


async def test_an_unconfirmed_offer_goes_back_to_the_front_and_a_colleague_gets_it_whole(
    server: Server,
) -> None:
    visitor, _ = await _queued_visitor(server)
    frozen = await server.counselor("bram", protocol=2)
    offer = await frozen.next("assigned")
    other_tab = Client(server.url, "/counselor")
    server.clients.append(other_tab)
    await other_tab.connect(auth={"token": await server.login("bram"), "protocol": 2})
    # The visitor writes while the offer hangs: nothing of it may be lost.
    assert (await visitor.call("message", {"text": "hallo?", "client_msg_id": "v1"}))["seq"] == 1
    second, _ = await _queued_visitor(server)
    await frozen.until("assigned", lambda a: a["chat_id"] != offer["chat_id"])  # slot two

    server.clock.advance(CONFIRM_SECONDS - 1)
    await server.tick()
    await visitor.nothing("queue", wait=0.2)

    server.clock.advance(2)
    await server.tick()
    await asyncio.sleep(0.2)  # the coalesced queue announcement
    await server.settle()
    assert (await visitor.until("queue", lambda q: q["position"] == 1))["position"] == 1
    assert (await second.until("queue", lambda q: q["position"] == 2))["position"] == 2
    for tab in (frozen, other_tab):
        told = await tab.until("availability", lambda a: a.get("reason") == "unconfirmed")
        assert told["available"] is False
        ended = await tab.until("ended", lambda e: e["chat_id"] == offer["chat_id"])
        assert ended["reason"] == "unconfirmed"
    # Too late now: the chat is not Bram's any more, and Bram gets nobody new.
    refused = await frozen.call("accept", {"chat_id": offer["chat_id"]})
    assert refused["error"]["code"] == "not_in_chat"
    await frozen.nothing("assigned", wait=0.2)

    anna = await server.counselor("anna", protocol=2)
    given = await anna.until("assigned", lambda a: a["chat_id"] == offer["chat_id"])
    assert [m["text"] for m in given["messages"]] == ["hallo?"]
    assert await anna.call("accept", {"chat_id": given["chat_id"]}) == {"ok": True}
    assert (await visitor.next("assigned"))["counselor_name"] == "Anna"
    counts = await _counts_today(server)
    assert counts["answered"] == 1


async def test_an_offered_chat_the_visitor_leaves_counts_as_abandoned(server: Server) -> None:
    visitor, _ = await _queued_visitor(server)
    carla = await server.counselor("carla", protocol=2)
    offer = await carla.next("assigned")
    assert await visitor.call("end", {}) == {"ok": True}
    assert (await carla.next("ended"))["chat_id"] == offer["chat_id"]
    counts = await _counts_today(server)
    assert counts["abandoned"] == 1
    assert counts.get("answered", 0) == 0
    # The slot is free again and the dead offer's deadline fires into nothing.
    server.clock.advance(CONFIRM_SECONDS + 1)
    await server.tick()
    assert (await carla.call("availability", {"available": True}))["available"] is True


async def test_a_v1_console_is_served_as_before(server: Server) -> None:
    visitor, _ = await _queued_visitor(server)
    old = await server.counselor("carla")
    offer = await old.next("assigned")
    assert offer["accepted"] is True
    assert (await visitor.next("assigned"))["counselor_name"] == "Carla"
    server.clock.advance(CONFIRM_SECONDS + 1)
    await server.tick()
    await old.nothing("ended", wait=0.2)


async def test_a_counselor_resume_lists_unaccepted_offers_so_a_reloaded_console_confirms(
    server: Server,
) -> None:
    visitor, _ = await _queued_visitor(server)
    carla = await server.counselor("carla", protocol=2)
    offer = await carla.next("assigned")
    reloaded = Client(server.url, "/counselor")
    server.clients.append(reloaded)
    await reloaded.connect(auth={"token": await server.login("carla"), "protocol": 2})
    chats = (await reloaded.call("resume", {}))["chats"]
    assert [(c["chat_id"], c["accepted"]) for c in chats] == [(offer["chat_id"], False)]
    assert await reloaded.call("accept", {"chat_id": offer["chat_id"]}) == {"ok": True}
    assert (await visitor.next("assigned"))["counselor_name"] == "Carla"
    chats = (await reloaded.call("resume", {}))["chats"]
    assert chats[0]["accepted"] is True


async def test_accept_of_someone_elses_chat_or_garbage_is_refused(server: Server) -> None:
    await _queued_visitor(server)
    carla = await server.counselor("carla", protocol=2)
    offer = await carla.next("assigned")
    otto = await server.counselor("otto", protocol=2)
    assert (await otto.call("accept", {"chat_id": offer["chat_id"]}))["error"]["code"] == (
        "not_in_chat"
    )
    for bad in (None, {}, {"chat_id": 5}, {"chat_id": "x" * 65}):
        assert (await otto.call("accept", bad))["error"]["code"] == "bad_request"


async def test_a_client_asking_for_a_newer_protocol_gets_a_clear_refusal(server: Server) -> None:
    await server.add_account("carla")
    token = await server.login("carla")
    for namespace, auth in (
        ("/counselor", {"token": token, "protocol": 3}),
        ("/visitor", {"protocol": 3}),
    ):
        client = Client(server.url, namespace)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(auth=auth)
        refusal = await client.next("connect_error")
        assert refusal["message"] == "unsupported_protocol"
        assert "protocol 1 to 2" in refusal["data"]["message"]


async def test_a_console_that_stops_answering_heartbeats_is_let_go(server: Server) -> None:
    """Its connection is closed after counselor_liveness_seconds, so the grace rule runs."""
    await server.add_account("bram")
    frozen = socketio.AsyncClient(reconnection=False)
    answering = asyncio.Event()

    @frozen.on("heartbeat", namespace="/counselor")  # type: ignore[misc]
    async def never_answer(data: object) -> None:
        await answering.wait()  # the ack is sent only when the handler returns

    await frozen.connect(
        server.url,
        namespaces=["/counselor"],
        transports=["websocket"],
        auth={"token": await server.login("bram"), "protocol": 2},
    )
    namespace = server.app[SIO].namespace_handlers["/counselor"]
    assert any(c.username == "bram" for c in namespace.connections.values())
    liveness = server.app[BOARD].config.server.counselor_liveness_seconds
    await asyncio.sleep(liveness + liveness / 3 + 1.5)
    assert all(c.username != "bram" for c in namespace.connections.values())
    answering.set()
    await frozen.disconnect()


async def test_a_console_that_answers_heartbeats_stays_and_learns_its_chats_last_seq(
    server: Server,
) -> None:
    visitor, _ = await _queued_visitor(server)
    carla = await server.counselor("carla", protocol=2)
    offer = await carla.next("assigned")
    await carla.call("accept", {"chat_id": offer["chat_id"]})
    await visitor.call("message", {"text": "hoi", "client_msg_id": "v1"})
    beat = await carla.until("heartbeat", lambda b: b["chats"].get(offer["chat_id"]) == 1, 8)
    assert beat["chats"] == {offer["chat_id"]: 1}
    liveness = server.app[BOARD].config.server.counselor_liveness_seconds
    await asyncio.sleep(liveness + 1)
    namespace = server.app[SIO].namespace_handlers["/counselor"]
    assert any(c.username == "carla" for c in namespace.connections.values())
