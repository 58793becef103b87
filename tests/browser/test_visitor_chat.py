"""A visitor in Chromium: queue, chat both ways in order, reload, lost connection, end."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import WebSocketRoute

from chatserver.web.keys import SIO
from tests.browser.conftest import Widget, chatting
from tests.integration.conftest import Server

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def session_keys(widget: Widget) -> list[str]:
    keys: list[str] = await widget.page.evaluate("Object.keys(sessionStorage).sort()")
    return keys


async def test_visitor_waits_is_taken_chats_both_ways_and_ends(
    widget: Widget, server: Server
) -> None:
    # Someone else is already waiting, so the widget's visitor is second in the queue.
    other = server.visitor()
    await other.connect()
    assert (await other.call("start", {"helpline": "alpha"}))["status"] == "queued"

    await widget.open()
    await widget.heading("Alpha").wait_for()
    await widget.page.get_by_text("Alpha is er voor iedereen die ergens mee zit.").wait_for()
    await widget.button("Start de chat").click()
    await widget.heading("Je bent in de wachtrij").wait_for()
    await widget.page.get_by_role("status").get_by_text("Er is 1 persoon voor je.").wait_for()
    assert "Geschatte wachttijd: ongeveer 40 minuten." in await widget.status.inner_text()

    # Written while waiting: stored, and the counselor gets it with the chat.
    await widget.send("Hallo, is daar iemand?")
    await widget.log.get_by_text("Verzonden").wait_for()

    # The queue moves: the position is updated live.
    await other.call("end", {})
    await widget.page.get_by_role("status").get_by_text("Je bent de volgende.").wait_for()
    await widget.screenshot("queued-nl-phone")

    counselor = await server.counselor("carla", helplines=("alpha",))
    assigned = await counselor.next("assigned")
    assert [m["text"] for m in assigned["messages"]] == ["Hallo, is daar iemand?"]
    chat_id = assigned["chat_id"]
    await widget.heading("Je chat met Carla").wait_for()

    await counselor.call("typing", {"chat_id": chat_id, "typing": True})
    await widget.page.get_by_role("status").get_by_text("Carla typt…").wait_for()
    await counselor.call(
        "message", {"chat_id": chat_id, "text": "Hoi, ik ben Carla.", "client_msg_id": "c1"}
    )
    await widget.log.get_by_text("Hoi, ik ben Carla.").wait_for()
    assert await widget.page.locator("#typing").inner_text() == ""

    for text in ("Ik weet niet goed hoe ik moet beginnen.", "Mag ik gewoon iets vragen?"):
        await widget.send(text)
    received = [await counselor.next("message") for _ in range(2)]
    assert [m["text"] for m in received] == [
        "Ik weet niet goed hoe ik moet beginnen.",
        "Mag ik gewoon iets vragen?",
    ]
    assert [m["seq"] for m in received] == [3, 4]
    await counselor.call(
        "message", {"chat_id": chat_id, "text": "Natuurlijk. Vertel maar.", "client_msg_id": "c2"}
    )
    expected = [
        "Hallo, is daar iemand?",
        "Hoi, ik ben Carla.",
        "Ik weet niet goed hoe ik moet beginnen.",
        "Mag ik gewoon iets vragen?",
        "Natuurlijk. Vertel maar.",
    ]
    await widget.until_texts(expected)
    assert await widget.log.get_by_text("Verzonden").count() == 3
    await widget.screenshot("chatting-nl-phone")

    # End, with a confirmation first.
    await widget.button("Gesprek beëindigen").click()
    dialog = widget.page.get_by_role("dialog", name="Gesprek beëindigen?")
    await dialog.wait_for()
    await dialog.get_by_role("button", name="Ja, beëindigen").click()
    await widget.heading("Het gesprek is beëindigd").wait_for()
    assert (await counselor.until("ended", lambda e: e["chat_id"] == chat_id))[
        "reason"
    ] == "visitor"
    await widget.page.get_by_text("Je hebt het gesprek beëindigd.").wait_for()
    await widget.screenshot("ended-nl-phone")

    # The transcript is made in the page: no request reaches the server for it.
    requests_before = len(widget.requests)
    async with widget.page.expect_download() as download_info:
        await widget.button("Gesprek downloaden").click()
    download = await download_info.value
    assert download.suggested_filename.startswith("chat-alpha-")
    transcript = (await download.path()).read_text(encoding="utf-8")
    for line in expected:
        assert line in transcript
    assert transcript.index("Hallo, is daar iemand?") < transcript.index("Natuurlijk.")
    assert "] Carla: Hoi, ik ben Carla." in transcript
    assert "] Jij: Mag ik gewoon iets vragen?" in transcript
    assert all(url.startswith("blob:") for url in widget.requests[requests_before:])

    # Nothing of the chat is left in the tab; only the tab's random id stays.
    assert await session_keys(widget) == ["chatserver.tab"]
    assert await widget.page.context.cookies() == []
    own = server.url.removeprefix("http://")
    assert widget.requests and all(own in url for url in widget.requests)


async def test_reload_mid_chat_resumes_without_losing_or_doubling_a_message(
    widget: Widget, server: Server
) -> None:
    chat = await chatting(widget, server)
    await chat.say("Eerste bericht")
    await widget.send("Tweede bericht")
    await chat.hears("Tweede bericht")
    await widget.until_texts(["Eerste bericht", "Tweede bericht"])

    # Only the resume token is kept, in this tab's sessionStorage: no cookie, no localStorage.
    stored = await widget.page.evaluate("JSON.parse(sessionStorage.getItem('chatserver.visitor'))")
    assert set(stored) == {"token", "helpline", "lang", "outbox"}
    assert stored["outbox"] == []
    assert await widget.page.evaluate("localStorage.length") == 0
    assert await widget.page.context.cookies() == []

    # The counselor writes while the page reloads.
    reload = asyncio.create_task(widget.page.reload())
    await chat.say("Derde bericht, tijdens het herladen")
    await reload
    await widget.heading("Je chat met Carla").wait_for()
    expected = ["Eerste bericht", "Tweede bericht", "Derde bericht, tijdens het herladen"]
    await widget.until_texts(expected)

    # And the chat goes on both ways, still without doubles.
    await widget.send("Vierde bericht")
    await chat.hears("Vierde bericht")
    await chat.say("Vijfde bericht")
    await widget.until_texts([*expected, "Vierde bericht", "Vijfde bericht"])
    await widget.page.wait_for_timeout(300)
    assert await widget.texts() == [*expected, "Vierde bericht", "Vijfde bericht"]
    await chat.counselor.nothing("message")


async def test_lost_connection_shows_reconnecting_then_catches_up_and_retries(
    widget: Widget, server: Server
) -> None:
    # The page's websockets pass through the test, which can cut them like a lost network.
    sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def through(page_side: WebSocketRoute) -> None:
        sockets.append((page_side, page_side.connect_to_server()))

    await widget.page.route_web_socket(re.compile(r"/socket\.io/"), through)
    chat = await chatting(widget, server)
    await chat.say("Voor de storing")
    await widget.until_texts(["Voor de storing"])

    page_side, server_side = sockets[-1]
    await server_side.close()
    await page_side.close(code=4000, reason="network lost")
    await widget.page.get_by_text("De verbinding is even weg.").wait_for()
    presence = await chat.counselor.next("visitor_presence")
    assert presence["connected"] is False

    # While the visitor is away: the counselor writes, and so does the visitor.
    await chat.say("Tijdens de storing")
    await widget.send("Ik typ terwijl de verbinding weg is")
    await widget.log.get_by_text("Wordt verzonden…").wait_for()

    presence = await chat.counselor.next("visitor_presence", timeout=10)
    assert presence["connected"] is True
    await chat.hears("Ik typ terwijl de verbinding weg is")
    expected = ["Voor de storing", "Tijdens de storing", "Ik typ terwijl de verbinding weg is"]
    await widget.until_texts(expected)
    await widget.page.get_by_text("De verbinding is even weg.").wait_for(state="hidden")
    assert await widget.log.get_by_text("Verzonden").count() == 1

    # A resync (the server's bus came back) resumes again: nothing doubles.
    await server.app[SIO].emit("resync", {}, namespace="/visitor")
    await chat.say("Na de resync")
    await widget.until_texts([*expected, "Na de resync"])
    await widget.page.wait_for_timeout(300)
    assert await widget.texts() == [*expected, "Na de resync"]
    await chat.counselor.nothing("message")


async def test_message_whose_ack_was_lost_is_retried_and_shown_once(
    widget: Widget, server: Server
) -> None:
    # The server's acks to the visitor can be swallowed, like a connection dying just then.
    sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []
    swallow_acks = False

    def through(page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()

        def from_server(message: str | bytes) -> None:
            ack = isinstance(message, str) and message.startswith("43/visitor,")
            if not (ack and swallow_acks):
                page_side.send(message)

        server_side.on_message(from_server)
        sockets.append((page_side, server_side))

    await widget.page.route_web_socket(re.compile(r"/socket\.io/"), through)
    chat = await chatting(widget, server)
    swallow_acks = True
    await widget.send("Kwam dit aan?")
    await chat.hears("Kwam dit aan?")  # stored, but the widget never hears back
    await widget.log.get_by_text("Wordt verzonden…").wait_for()

    swallow_acks = False
    page_side, server_side = sockets[-1]
    await server_side.close()
    await page_side.close(code=4000, reason="network lost")

    # After the reconnect the resume brings the message back with its seq, and the retry
    # with the same client_msg_id is answered with that seq: it is shown once, as sent.
    await widget.log.get_by_text("Verzonden").wait_for()
    await widget.page.wait_for_timeout(300)
    assert await widget.texts() == ["Kwam dit aan?"]
    await chat.counselor.nothing("message")
    await chat.say("Ja, ik heb het.")
    await widget.until_texts(["Kwam dit aan?", "Ja, ik heb het."])


async def test_counselor_markup_is_shown_as_text(widget: Widget, server: Server) -> None:
    chat = await chatting(widget, server)
    payloads = [
        '<img src=x onerror="window.__xss = 1">',
        "<script>window.__xss = 2</script><b>vet</b>",
        '"><svg onload="window.__xss = 3">',
    ]
    for payload in payloads:
        await chat.say(payload)
    await widget.until_texts(payloads)
    for payload in payloads:
        await widget.log.get_by_text(payload, exact=True).wait_for()
    assert await widget.log.locator("img, script, svg, b").count() == 0
    assert await widget.page.evaluate("window.__xss") is None


async def test_counselor_ending_the_chat_shows_the_closing_screen(
    widget: Widget, server: Server
) -> None:
    chat = await chatting(widget, server)
    await chat.say("Ik sluit het gesprek nu af. Sterkte!")
    await widget.until_texts(["Ik sluit het gesprek nu af. Sterkte!"])
    assert await chat.counselor.call("end", {"chat_id": chat.chat_id}) == {"ok": True}
    await widget.heading("Het gesprek is beëindigd").wait_for()
    await widget.page.get_by_text("De hulpverlener heeft het gesprek beëindigd.").wait_for()
    assert await session_keys(widget) == ["chatserver.tab"]

    # A new chat starts from the beginning, on a new connection.
    await widget.button("Nieuw gesprek beginnen").click()
    await widget.button("Start de chat").click()
    assigned = await chat.counselor.next("assigned")
    assert assigned["chat_id"] != chat.chat_id
    await widget.heading("Je chat met Carla").wait_for()
    assert await widget.texts() == []


async def test_visitor_goes_back_to_the_queue_when_the_counselor_is_lost_and_on_to_another(
    widget: Widget, server: Server
) -> None:
    chat = await chatting(widget, server)
    await chat.say("Ik ben er.")
    await widget.until_texts(["Ik ben er."])

    await chat.counselor.disconnect()
    await server.until_counselor_gone("carla")
    server.clock.advance(61)  # the counselor grace period is over
    await server.tick()
    await widget.heading("Je bent in de wachtrij").wait_for()
    await widget.status.get_by_text("Je bent de volgende.").wait_for()
    assert len(await widget.texts()) == 2  # and a system message says what happened

    dana = await server.counselor("dana", helplines=("alpha",))
    assigned = await dana.next("assigned")
    assert assigned["messages"][0]["text"] == "Ik ben er."
    await widget.heading("Je chat met Dana").wait_for()
    # The hand-over line reaches Dana too; then the visitor's own message.
    handover = await dana.next("message")
    assert handover["from"] == "system" and "Dana" in handover["text"]
    await widget.send("Hallo Dana")
    assert (await dana.next("message"))["text"] == "Hallo Dana"


async def test_blocked_visitor_sees_a_calm_end_and_cannot_start_again_in_this_tab(
    widget: Widget, server: Server
) -> None:
    chat = await chatting(widget, server)
    assert await chat.counselor.call("block", {"chat_id": chat.chat_id}) == {"ok": True}
    await widget.heading("Het gesprek is beëindigd").wait_for()
    await widget.page.get_by_text("De hulpverlener heeft het gesprek beëindigd.").wait_for()
    await widget.button("Nieuw gesprek beginnen").click()
    await widget.button("Start de chat").click()
    await widget.heading("Nu geen gesprek mogelijk").wait_for()
    assert await widget.button("Probeer het opnieuw").is_hidden()
