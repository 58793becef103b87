"""One client cannot fill a helpline's queue, nor flood or bloat a chat.

Real server, real python-socketio clients. The start limit counts per client address;
these clients all come from 127.0.0.1, and a proxy on 127.0.0.1 that is trusted in the
config names other clients in X-Forwarded-For.
"""

from __future__ import annotations

import asyncio

from tests.helpers import Client, always_open_config
from tests.integration.conftest import Server, ServerFactory

BEHIND_PROXY = always_open_config(
    max_queue=50,
    max_chats=2,
    server='[server]\ntrusted_proxies = ["127.0.0.1"]\n',
)
NO_PROXY = always_open_config(max_queue=50, max_chats=2)
SMALL_CHATS = always_open_config(
    max_queue=50,
    max_chats=2,
    server="[limits]\nchat_max_messages = 6\nresume_max_messages = 4\n",
)


async def visitor_from(server: Server, address: str | None) -> Client:
    client = server.visitor()
    await client.connect(headers={"X-Forwarded-For": address} if address else None)
    return client


async def start_codes(server: Server, address: str | None, count: int) -> list[str]:
    visitors = [await visitor_from(server, address) for _ in range(count)]
    acks = await asyncio.gather(*(v.call("start", {"helpline": "alpha"}) for v in visitors))
    return [ack.get("status") or ack["error"]["code"] for ack in acks]


async def test_one_address_gets_a_few_starts_a_minute_while_another_still_queues(
    make_server: ServerFactory,
) -> None:
    server = await make_server(BEHIND_PROXY)
    codes = await start_codes(server, "198.51.100.7", 24)
    assert codes.count("queued") == 5
    assert codes.count("rate_limited") == 19
    other = await visitor_from(server, "203.0.113.9, 198.51.100.250")
    ack = await other.call("start", {"helpline": "alpha"})
    assert ack["status"] == "queued"
    assert ack["position"] == 6
    refused = await (await visitor_from(server, "198.51.100.7")).call(
        "start", {"helpline": "alpha"}
    )
    assert refused["error"]["code"] == "rate_limited"
    assert "try again in" in refused["error"]["message"]
    server.clock.advance(61)
    assert await start_codes(server, "198.51.100.7", 1) == ["queued"]


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_server: ServerFactory,
) -> None:
    server = await make_server(NO_PROXY)
    codes = [(await start_codes(server, f"192.0.2.{n}", 1))[0] for n in range(8)]
    assert codes == ["queued"] * 5 + ["rate_limited"] * 3


async def test_a_silent_waiting_visitor_loses_the_place_after_the_short_grace(
    server: Server,
) -> None:
    silent, other = server.visitor(), server.visitor()
    await silent.connect()
    await other.connect()
    token = (await silent.call("start", {"helpline": "alpha"}))["token"]
    await other.call("start", {"helpline": "alpha"})
    await silent.disconnect()
    await server.until_visitor_gone(token)
    server.clock.advance(11)
    await server.tick()
    await other.until("queue", lambda q: q["position"] == 1)
    late = server.visitor()
    await late.connect()
    assert await late.call("resume", {"token": token}) == {"status": "ended", "reason": "timeout"}
    # A visitor who wrote keeps the full grace: test_visitor_flow.py
    # test_visitor_keeps_queue_place_within_grace_and_is_abandoned_after.


async def test_a_visitors_tabs_share_one_message_budget_per_chat(server: Server) -> None:
    first = server.visitor()
    await first.connect()
    token = (await first.call("start", {"helpline": "alpha"}))["token"]
    tabs = [first]
    for _ in range(9):
        tab = server.visitor()
        await tab.connect()
        await tab.call("resume", {"token": token})
        tabs.append(tab)

    async def flood(index: int, tab: Client) -> list[str]:
        codes = []
        for n in range(5):
            ack = await tab.call("message", {"text": "x", "client_msg_id": f"t{index}-{n}"})
            codes.append("ok" if "seq" in ack else ack["error"]["code"])
        return codes

    results = await asyncio.gather(*(flood(i, tab) for i, tab in enumerate(tabs)))
    codes = [code for tab_codes in results for code in tab_codes]
    # The server's clock stands still here: exactly the burst of 10, however many tabs.
    assert codes.count("ok") == 10
    assert codes.count("rate_limited") == 40


async def test_a_full_chat_refuses_both_sides_and_tells_them_once(
    make_server: ServerFactory,
) -> None:
    server = await make_server(SMALL_CHATS)
    visitor = server.visitor()
    await visitor.connect()
    await visitor.call("start", {"helpline": "alpha"})
    counselor = await server.counselor("carla")
    chat_id = (await counselor.next("assigned"))["chat_id"]
    for n in range(6):
        assert "seq" in await visitor.call("message", {"text": "x", "client_msg_id": f"v{n}"})
        await counselor.next("message")
    refused = await visitor.call("message", {"text": "x", "client_msg_id": "v6"})
    assert refused["error"]["code"] == "chat_full"
    told = await counselor.next("message")
    assert (told["from"], told["seq"], told["chat_id"]) == ("system", 7, chat_id)
    assert (await visitor.next("message"))["from"] == "system"
    again = await counselor.call(
        "message", {"chat_id": chat_id, "text": "y", "client_msg_id": "c1"}
    )
    assert again["error"]["code"] == "chat_full"
    await counselor.nothing("message")
    await visitor.nothing("message")


async def test_resume_answers_come_in_pages_with_more(make_server: ServerFactory) -> None:
    server = await make_server(SMALL_CHATS)
    visitor = server.visitor()
    await visitor.connect()
    token = (await visitor.call("start", {"helpline": "alpha"}))["token"]
    for n in range(6):
        await visitor.call("message", {"text": f"m{n}", "client_msg_id": f"v{n}"})
    tab = server.visitor()
    await tab.connect()
    first = await tab.call("resume", {"token": token, "last_seq": 0})
    assert ([m["seq"] for m in first["messages"]], first["more"]) == ([1, 2, 3, 4], True)
    rest = await tab.call("resume", {"token": token, "last_seq": 4})
    assert ([m["seq"] for m in rest["messages"]], rest["more"]) == ([5, 6], False)
    counselor = await server.counselor("carla")
    await counselor.next("assigned")
    chats = (await counselor.call("resume", {"last_seq": {}}))["chats"]
    assert ([m["seq"] for m in chats[0]["messages"]], chats[0]["more"]) == ([1, 2, 3, 4], True)
