"""Quick exit: the button and Shift pressed three times leave for the neutral site at once."""

from __future__ import annotations

import pytest

from chatserver.web.keys import BOARD
from tests.browser.conftest import NEUTRAL_URL, Widget, chatting
from tests.integration.conftest import Server

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_quick_exit_button_is_first_in_tab_order_on_every_screen(widget: Widget) -> None:
    screens = {
        "": "Met wie wil je chatten?",
        "helpline=alpha": "Alpha",
        "helpline=shut": "Shut is nu gesloten",
    }
    for query, heading in screens.items():
        await widget.open(query)
        await widget.heading(heading).wait_for()
        await widget.page.keyboard.press("Tab")
        focused = widget.page.locator(":focus")
        assert await focused.get_attribute("data-quick-exit") == "", query
        assert await focused.inner_text() == "Snel weg"


async def test_button_ends_the_chat_wipes_the_tab_and_back_does_not_return(
    widget: Widget, server: Server
) -> None:
    # Something before the widget in this tab's history, to go Back to.
    await widget.page.goto(f"{server.url}/")
    chat = await chatting(widget, server)
    await chat.say("Hoi")
    await widget.until_texts(["Hoi"])

    await widget.button("Snel weg").click()
    await widget.page.wait_for_url(NEUTRAL_URL)
    ended = await chat.counselor.next("ended")
    assert ended["reason"] == "visitor"

    # Back skips the chat: its history entry was replaced.
    await widget.page.go_back()
    assert widget.page.url == f"{server.url}/"
    assert await widget.page.evaluate("sessionStorage.length") == 0
    await widget.page.go_forward()
    assert widget.page.url == NEUTRAL_URL


async def test_shift_three_times_leaves_while_waiting(widget: Widget, server: Server) -> None:
    await widget.page.goto(f"{server.url}/")
    await widget.open()
    await widget.button("Start de chat").click()
    await widget.queued()
    assert len(await server.app[BOARD].store.waiting("alpha")) == 1

    # Also while typing in the message box.
    await widget.textbox.fill("Ik twijfel of")
    for _ in range(3):
        await widget.page.keyboard.press("Shift")
    await widget.page.wait_for_url(NEUTRAL_URL)
    await widget.page.get_by_role("heading", name="Weather today").wait_for()

    await server.settle()
    assert await server.app[BOARD].store.waiting("alpha") == []
    await widget.page.go_back()
    assert widget.page.url == f"{server.url}/"
    assert await widget.page.evaluate("sessionStorage.length") == 0


async def test_shift_for_capital_letters_is_not_a_quick_exit(widget: Widget) -> None:
    await widget.open()
    await widget.button("Start de chat").click()
    await widget.textbox.click()
    keyboard = widget.page.keyboard
    await keyboard.press("Shift")
    # "Ik Ben Bang": three capitals in quick succession, each typed with Shift held.
    for word in ("Ik", "Ben", "Bang"):
        await keyboard.down("Shift")
        await keyboard.press(f"Key{word[0]}")
        await keyboard.up("Shift")
        await keyboard.type(word[1:].lower() + " ")
    # Two taps, a pause longer than the window, and a third tap do not count either.
    await keyboard.press("Shift")
    await keyboard.press("Shift")
    await widget.page.wait_for_timeout(2100)
    await keyboard.press("Shift")
    await widget.page.wait_for_timeout(300)
    assert widget.page.url.startswith(f"{widget.server.url}/widget/")
    assert await widget.textbox.input_value() == "Ik Ben Bang "


async def test_quick_exit_from_the_end_dialog(widget: Widget, server: Server) -> None:
    await chatting(widget, server)
    await widget.button("Gesprek beëindigen").click()
    dialog = widget.page.get_by_role("dialog", name="Gesprek beëindigen?")
    await dialog.get_by_role("button", name="Snel weg").click()
    await widget.page.wait_for_url(NEUTRAL_URL)
