"""WCAG 2.1 AA: axe-core on every main state, keyboard only, 320 px, the idle warning."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Widget, WidgetFactory, chatting
from tests.integration.conftest import Server

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_no_serious_or_critical_axe_violations_in_any_main_state(
    widget: Widget, server: Server
) -> None:
    async def check(state: str) -> None:
        assert await widget.axe() == [], state

    await widget.open("")
    await widget.heading("Met wie wil je chatten?").wait_for()
    await check("choose")
    await widget.open("helpline=shut")
    await widget.heading("Shut is nu gesloten").wait_for()
    await check("closed")
    await widget.open("helpline=alpha")
    await widget.heading("Alpha").wait_for()
    await check("intro")

    await widget.button("Start de chat").click()
    await widget.queued()
    await widget.send("Hallo")
    await widget.log.get_by_text("Verzonden").wait_for()
    await check("queued")

    counselor = await server.counselor("carla", helplines=("alpha",))
    chat_id = (await counselor.next("assigned"))["chat_id"]
    await counselor.call("message", {"chat_id": chat_id, "text": "Hoi!", "client_msg_id": "c1"})
    await counselor.call("typing", {"chat_id": chat_id, "typing": True})
    await widget.page.get_by_text("Carla typt…").wait_for()
    await check("chatting")

    await widget.button("Gesprek beëindigen").click()
    await widget.page.get_by_role("dialog").wait_for()
    await check("end dialog")
    await widget.button("Ja, beëindigen").click()
    await widget.heading("Het gesprek is beëindigd").wait_for()
    await check("ended")


async def test_live_regions_carry_the_log_the_queue_and_typing(
    widget: Widget, server: Server
) -> None:
    await chatting(widget, server)
    assert await widget.page.get_by_role("log", name="Gesprek").count() == 1
    for element in ("#chat-status", "#typing", "#connection"):
        assert await widget.page.locator(element).get_attribute("role") == "status"


async def test_whole_chat_by_keyboard_alone(widget: Widget, server: Server) -> None:
    keyboard = widget.page.keyboard
    await widget.open()
    await widget.heading("Alpha").wait_for()
    await keyboard.press("Tab")  # quick exit
    await keyboard.press("Tab")
    assert await widget.page.locator(":focus").inner_text() == "Start de chat"
    await keyboard.press("Enter")
    await widget.queued()
    counselor = await server.counselor("carla", helplines=("alpha",))
    await counselor.next("assigned")
    await widget.heading("Je chat met Carla").wait_for()

    await keyboard.press("Tab")  # the log, scrollable, so focusable
    await keyboard.press("Tab")
    assert await widget.page.locator(":focus").get_attribute("id") == "message"
    await keyboard.type("Ik typ met het toetsenbord")
    await keyboard.press("Enter")
    assert (await counselor.next("message"))["text"] == "Ik typ met het toetsenbord"

    await keyboard.press("Tab")  # send
    await keyboard.press("Tab")
    assert await widget.page.locator(":focus").inner_text() == "Gesprek beëindigen"
    await keyboard.press("Enter")
    dialog = widget.page.get_by_role("dialog", name="Gesprek beëindigen?")
    await dialog.wait_for()
    assert await widget.page.locator(":focus").inner_text() == "Nee, verder chatten"
    await keyboard.press("Escape")
    await dialog.wait_for(state="hidden")
    assert await widget.page.locator(":focus").inner_text() == "Gesprek beëindigen"


async def test_every_state_fits_320_px_without_sideways_scrolling(
    new_widget: WidgetFactory, server: Server
) -> None:
    widget = await new_widget(viewport={"width": 320, "height": 568})
    for query, heading in (
        ("", "Met wie wil je chatten?"),
        ("helpline=shut", "Shut is nu gesloten"),
    ):
        await widget.open(query)
        await widget.heading(heading).wait_for()
        await widget.no_horizontal_scroll()
    chat = await chatting(widget, server)
    await chat.say("Een heel lang woord zonder spaties: " + "a" * 120)
    await chat.say("https://example.org/" + "pad/" * 30)
    await widget.send("Dankjewel, dat helpt.")
    await widget.log.get_by_text("Verzonden").wait_for()
    await widget.no_horizontal_scroll()
    await widget.screenshot("chatting-nl-320px")


async def test_chat_works_at_200_percent_zoom_of_a_small_laptop_screen(
    new_widget: WidgetFactory, server: Server
) -> None:
    # A 1280x800 window at 200% zoom leaves 640x400 CSS pixels.
    widget = await new_widget(viewport={"width": 640, "height": 400}, device_scale_factor=2)
    chat = await chatting(widget, server)
    for n in range(1, 8):
        await chat.say(f"Bericht {n} van Carla")
    await widget.textbox.fill("Ik lees alles, ook zo groot.")
    await widget.button("Versturen").click()
    await chat.hears("Ik lees alles, ook zo groot.")
    await widget.no_horizontal_scroll()
    await widget.screenshot("chatting-nl-zoom200")
    await widget.button("Gesprek beëindigen").click()
    await widget.button("Ja, beëindigen").click()
    await widget.heading("Het gesprek is beëindigd").wait_for()
    await widget.no_horizontal_scroll()


async def test_idle_warning_gives_at_least_20_seconds_and_staying_keeps_the_chat(
    widget: Widget, server: Server
) -> None:
    # The page's clock is the test's: minutes pass in a moment. (The test server pings rarely,
    # so the socket.io client does not call the server dead when its clock jumps.)
    clock = widget.page.clock
    await clock.install()
    # A minute of quiet before the warning; a grace below 20 s is raised to 20 s.
    chat = await chatting(widget, server, "helpline=alpha&idle=60&idle_grace=5")
    dialog = widget.page.get_by_role("alertdialog", name="Ben je er nog?")
    await clock.fast_forward("00:59")
    await widget.page.wait_for_timeout(100)
    assert await dialog.is_hidden()
    await clock.fast_forward("00:02")
    await dialog.wait_for()
    await dialog.get_by_text("sluiten we het gesprek over 20 seconden").wait_for()
    await widget.screenshot("idle-warning-nl-phone")
    assert await widget.axe() == []

    await dialog.get_by_role("button", name="Ja, ik ben er nog").click()
    await dialog.wait_for(state="hidden")
    await chat.say("Fijn dat je er nog bent.")
    await widget.until_texts(["Fijn dat je er nog bent."])

    # Quiet again: the warning comes back, and the chat ends only 20 s after it.
    await clock.fast_forward("01:01")
    await dialog.wait_for()
    await clock.fast_forward("00:19")
    await chat.counselor.nothing("ended", wait=0.5)
    assert await dialog.is_visible()
    await clock.fast_forward("00:02")
    assert (await chat.counselor.next("ended"))["reason"] == "visitor"
    await widget.heading("Het gesprek is beëindigd").wait_for()
    await widget.page.get_by_text(
        "Het gesprek is gesloten omdat er een tijd niets gebeurde."
    ).wait_for()
