"""Event names the Socket.IO library keeps for itself cannot be sent by a client.

The server runs its connect/disconnect handlers on its own when a connection opens or
closes; a client that emits an event of that name must get bad_request and change nothing.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import Server

RESERVED = ["connect", "disconnect", "connect_error", "disconnecting", "*"]


@pytest.mark.parametrize("event", RESERVED)
async def test_a_visitor_emitting_a_reserved_event_gets_bad_request(
    server: Server, event: str
) -> None:
    visitor = server.visitor()
    await visitor.connect()
    start = await visitor.call("start", {"helpline": "alpha"})
    counselor = await server.counselor("carla")
    chat_id = (await counselor.next("assigned"))["chat_id"]
    ack = await visitor.call(event, {"token": start["token"]})
    assert ack["error"]["code"] == "bad_request", ack
    # The chat is untouched: no grace period started, so time passing ends nothing.
    server.clock.advance(3600)
    await server.tick()
    await counselor.nothing("ended")
    ack = await visitor.call("message", {"text": "nog hier", "client_msg_id": "v1"})
    assert ack["seq"] == 1
    assert (await counselor.next("message"))["chat_id"] == chat_id


async def test_a_fake_disconnect_does_not_reset_the_rate_limit(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    token = (await visitor.call("start", {"helpline": "alpha"}))["token"]
    acked = 0
    for n in range(60):
        if n % 10 == 0:
            await visitor.call("disconnect")
            await visitor.call("resume", {"token": token})
        ack = await visitor.call("message", {"text": "spam", "client_msg_id": f"m{n}"})
        acked += "seq" in ack
    assert acked <= 16


@pytest.mark.parametrize("event", RESERVED)
async def test_a_counselor_emitting_a_reserved_event_gets_bad_request(
    server: Server, event: str
) -> None:
    counselor = await server.counselor("carla")
    counselor.drain("availability")
    ack = await counselor.call(event, {"HTTP_COOKIE": "session=forged"})
    assert ack["error"]["code"] == "bad_request", ack
    # The connect handler did not run again: it would announce availability anew.
    await counselor.nothing("availability")
    assert (await counselor.call("availability", {"available": False}))["available"] is False


async def test_a_client_msg_id_with_a_trailing_newline_is_refused(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    ack = await visitor.call("message", {"text": "hoi", "client_msg_id": "ok\n"})
    assert ack["error"]["code"] == "bad_request"
