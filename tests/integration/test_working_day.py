"""A counselor's working day: internal notes, picking from the queue, supervisor hints and the
hand-over line the visitor sees when another counselor takes the chat over."""

from __future__ import annotations

import asyncio

import aiohttp

from chatserver.web.keys import STORE
from tests.helpers import Client
from tests.integration.conftest import TEST_CONFIG, Server, ServerFactory
from tests.integration.test_console_api import as_role, post_json

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A helpline whose counselors choose from the queue, open around the clock.
PICK_HELPLINE = """
[[helpline]]
id = "picky"
name = "Picky"
max_queue = 5
last_admission_minutes = 10
max_chats_per_counselor = 2
assignment = "pick"
[helpline.hours]
""" + "".join(
    f'{day} = ["00:00-24:00"]\n' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
)
# Alpha answered automatically (FIFO) with supervisor hints allowed, and Picky.
PICK_CONFIG = (
    TEST_CONFIG.replace('id = "alpha"', 'id = "alpha"\nsupervisor_hints = true') + PICK_HELPLINE
)


async def _visitor(server: Server, helpline: str = "alpha", lang: str = "nl") -> Client:
    visitor = server.visitor()
    await visitor.connect()
    ack = await visitor.call("start", {"helpline": helpline, "lang": lang})
    assert ack["status"] == "queued"
    return visitor


# --- internal notes ----------------------------------------------------------------------------


async def test_internal_notes_reach_the_other_tabs_and_a_colleague_but_never_the_visitor(
    server: Server,
) -> None:
    visitor = await _visitor(server)
    carla = await server.counselor("carla", protocol=2)
    chat_id = (await carla.next("assigned"))["chat_id"]
    await carla.call("accept", {"chat_id": chat_id})
    second_tab = Client(server.url, "/counselor")
    server.clients.append(second_tab)
    await second_tab.connect(auth={"token": await server.login("carla"), "protocol": 2})

    ack = await carla.call("note", {"chat_id": chat_id, "text": "Noemt een school; rustig aan."})
    assert ack == {"ok": True}
    assert await second_tab.next("note") == {
        "chat_id": chat_id,
        "text": "Noemt een school; rustig aan.",
    }
    await carla.nothing("note")

    otto = await server.counselor("otto", protocol=2)
    transfer = {"chat_id": chat_id, "counselor": "otto", "note": "Graag verder over school."}
    assert await carla.call("transfer", transfer) == {"ok": True}
    handed = await otto.next("assigned")
    assert handed["handover_note"] == "Noemt een school; rustig aan.\n\nGraag verder over school."
    await otto.call("accept", {"chat_id": chat_id})
    await visitor.until("assigned", lambda a: a["counselor_name"] == "Otto")
    texts = [m["text"] for m in visitor.drain("message")]
    assert all("school" not in text for text in texts)


async def test_notes_are_refused_for_someone_elses_chat_and_when_too_long(server: Server) -> None:
    await _visitor(server)
    carla = await server.counselor("carla")
    chat_id = (await carla.next("assigned"))["chat_id"]
    otto = await server.counselor("otto")
    refused = await otto.call("note", {"chat_id": chat_id, "text": "x"})
    assert refused["error"]["code"] == "not_in_chat"
    too_long = await carla.call("note", {"chat_id": chat_id, "text": "x" * 4001})
    assert too_long["error"]["code"] == "too_long"
    assert (await carla.call("note", {"chat_id": chat_id}))["error"]["code"] == "bad_request"


async def test_notes_are_shredded_with_the_chat(server: Server) -> None:
    visitor = await _visitor(server)
    carla = await server.counselor("carla")
    chat_id = (await carla.next("assigned"))["chat_id"]
    await carla.call("note", {"chat_id": chat_id, "text": "vertrouwelijk"})
    assert await server.app[STORE].note(chat_id) == "vertrouwelijk"
    await visitor.call("end")
    await carla.next("ended")
    assert await server.app[STORE].note(chat_id) is None


# --- hand-over line ---------------------------------------------------------------------------


async def test_the_visitor_is_told_who_took_the_chat_over_after_a_transfer(
    server: Server,
) -> None:
    visitor = await _visitor(server, lang="en")
    carla = await server.counselor("carla", protocol=2)
    chat_id = (await carla.next("assigned"))["chat_id"]
    await carla.call("accept", {"chat_id": chat_id})
    await visitor.next("assigned")
    await visitor.nothing("message", wait=0.2)  # no line for the first answer
    bram = await server.counselor("bram", protocol=2)
    assert await carla.call("transfer", {"chat_id": chat_id, "counselor": "bram"}) == {"ok": True}
    await bram.next("assigned")
    # The visitor hears it only once Bram's console confirmed the chat.
    await visitor.nothing("message", wait=0.2)
    await bram.call("accept", {"chat_id": chat_id})
    line = await visitor.until("message", lambda m: m["from"] == "system")
    assert line["text"] == "Bram has taken over the chat."
    mine = await bram.until("message", lambda m: m["from"] == "system")
    assert (mine["chat_id"], mine["seq"]) == (chat_id, line["seq"])


async def test_the_visitor_is_told_in_dutch_who_took_over_after_a_lost_counselor(
    server: Server,
) -> None:
    visitor = await _visitor(server)
    carla = await server.counselor("carla")
    await carla.next("assigned")
    await carla.disconnect()
    await server.until_counselor_gone("carla")
    server.clock.advance(61)  # past the counselor grace period
    await server.tick()
    await visitor.until("message", lambda m: "verbroken" in m["text"])
    await server.counselor("bram")
    line = await visitor.until("message", lambda m: "overgenomen" in m["text"])
    assert line["text"] == "Bram heeft het gesprek overgenomen."


# --- pick from the queue ----------------------------------------------------------------------


async def test_a_pick_helpline_lists_its_queue_without_text_and_never_assigns_by_itself(
    make_server: ServerFactory,
) -> None:
    server = await make_server(PICK_CONFIG)
    carla = await server.counselor("carla", helplines=("picky",), protocol=2)
    first = await _visitor(server, "picky", lang="en")
    await first.call("message", {"text": "geheim verhaal", "client_msg_id": "v1"})
    server.clock.advance(30)
    await _visitor(server, "picky")
    stats = await carla.until(
        "queue_stats", lambda s: len(s["helplines"]["picky"].get("waiting_chats", [])) == 2
    )
    picky = stats["helplines"]["picky"]
    assert picky["assignment"] == "pick"
    listed = picky["waiting_chats"]
    assert [(c["lang"], c["waited_s"]) for c in listed] == [("en", 30), ("nl", 0)]
    assert set(listed[0]) == {"chat_id", "waited_s", "lang"}
    assert "geheim" not in str(stats)
    server.clock.advance(5)
    await server.tick()
    await carla.nothing("assigned")

    # She picks the second visitor, not the first in line.
    assert await carla.call("pick", {"chat_id": listed[1]["chat_id"]}) == {"ok": True}
    offer = await carla.next("assigned")
    assert offer["chat_id"] == listed[1]["chat_id"]
    assert await carla.call("accept", {"chat_id": offer["chat_id"]}) == {"ok": True}


async def test_two_counselors_picking_one_visitor_never_both_get_it(
    make_server: ServerFactory,
) -> None:
    server = await make_server(PICK_CONFIG)
    carla = await server.counselor("carla", helplines=("picky",), protocol=2)
    bram = await server.counselor("bram", helplines=("picky",), protocol=2)
    await _visitor(server, "picky")
    stats = await carla.until(
        "queue_stats", lambda s: len(s["helplines"]["picky"].get("waiting_chats", [])) == 1
    )
    chat_id = stats["helplines"]["picky"]["waiting_chats"][0]["chat_id"]
    acks = await asyncio.gather(
        carla.call("pick", {"chat_id": chat_id}), bram.call("pick", {"chat_id": chat_id})
    )
    assert sorted(str(a.get("ok") or a["error"]["code"]) for a in acks) == ["True", "unavailable"]


async def test_picking_is_refused_on_an_automatic_helpline_and_for_an_unknown_chat(
    make_server: ServerFactory,
) -> None:
    server = await make_server(PICK_CONFIG)
    carla = await server.counselor("carla", helplines=("picky",), available=False)
    unknown = await carla.call("pick", {"chat_id": "nope"})
    assert unknown["error"]["code"] == "unavailable"
    otto = await server.counselor("otto", available=False)
    await _visitor(server, "alpha")
    waiting = await server.app[STORE].waiting_ids("alpha")
    auto = await otto.call("pick", {"chat_id": waiting[0]})
    assert auto["error"]["code"] == "unavailable"


# --- supervisor hints --------------------------------------------------------------------------


async def test_a_manager_sends_a_private_hint_where_the_helpline_allows_it(
    make_server: ServerFactory,
) -> None:
    server = await make_server(PICK_CONFIG)
    carla = await server.counselor("carla", helplines=("alpha",))
    sam = await server.counselor("sam", helplines=("picky",))
    headers = await as_role(server, "mia", "manager")
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/supervisor/hint"
        status, body = await post_json(
            http, url, {"counselor": "carla", "text": "Neem even pauze."}, headers
        )
        assert (status, body) == (200, {"ok": True})
        assert await carla.next("hint") == {"text": "Neem even pauze.", "from": "Mia"}
        # Picky does not allow hints.
        status, body = await post_json(http, url, {"counselor": "sam", "text": "Hoi"}, headers)
        assert (status, body["error"]["code"]) == (409, "unavailable")
        await sam.nothing("hint")
        status, body = await post_json(http, url, {"counselor": "carla", "text": ""}, headers)
        assert status == 400
        counselor_headers = await as_role(server, "kim", "counselor")
        status, _ = await post_json(
            http, url, {"counselor": "carla", "text": "x"}, counselor_headers
        )
        assert status == 403
        async with http.get(f"{server.url}/api/supervisor", headers=headers) as response:
            board = await response.json()
        hints = {c["username"]: c["hints"] for c in board["counselors"]}
        assert hints == {"carla": True, "sam": False}
