"""Before a chat: choosing a helpline, a closed helpline's hours, a full queue, languages."""

from __future__ import annotations

import pytest

from chatserver.web.keys import BOARD
from tests.browser.conftest import Widget, WidgetFactory
from tests.integration.conftest import Server

pytestmark = pytest.mark.asyncio(loop_scope="session")

DASH = "\N{EN DASH}"


async def test_closed_helpline_shows_next_opening_week_hours_and_alternatives(
    widget: Widget,
) -> None:
    # Wednesday 2 December, 14:00. Shut opens on Mondays and Thursdays 10:00-17:00, but on
    # Thursday 3 December only 19:00-22:00 (an exception, like a holiday).
    await widget.open("helpline=shut")
    await widget.heading("Shut is nu gesloten").wait_for()
    await widget.page.get_by_text("We zijn weer open morgen om 19:00.").wait_for()
    await widget.screenshot("closed-nl-phone")

    table = widget.page.get_by_role("table", name="Openingstijden komende week")
    rows = [
        [await cell.inner_text() for cell in await row.locator("th, td").all()]
        for row in await table.get_by_role("row").all()
    ]
    assert rows == [
        ["woensdag 2 december (vandaag)", "gesloten"],
        ["donderdag 3 december", f"19:00{DASH}22:00"],
        ["vrijdag 4 december", "gesloten"],
        ["zaterdag 5 december", "gesloten"],
        ["zondag 6 december", "gesloten"],
        ["maandag 7 december", f"10:00{DASH}17:00"],
        ["dinsdag 8 december", "gesloten"],
    ]
    # Time zone note only for a device elsewhere.
    assert not await widget.page.get_by_text("tijdzone").is_visible()

    await widget.page.get_by_role("heading", name="Je kunt ons ook bereiken").wait_for()
    assert await widget.page.get_by_role("link", name="0800-5678").get_attribute("href") == (
        "tel:08005678"
    )
    assert await widget.page.get_by_role("link", name="hulp@example.org").get_attribute("href") == (
        "mailto:hulp@example.org"
    )
    website = widget.page.get_by_role("link", name="https://example.org/hulp")
    assert await website.get_attribute("rel") == "noopener noreferrer"
    assert await widget.button("Start de chat").is_hidden()


async def test_closed_helpline_on_a_device_in_another_time_zone_says_which_zone(
    new_widget: WidgetFactory,
) -> None:
    widget = await new_widget(timezone_id="America/New_York", locale="en-US")
    await widget.open("helpline=shut")
    await widget.heading("Shut is closed now").wait_for()
    # The helpline's times, said to be in its zone.
    await widget.page.get_by_text("We open again tomorrow at 19:00.").wait_for()
    await widget.page.get_by_text("All times are in the Europe/Amsterdam time zone.").wait_for()


async def test_helpline_that_closed_while_the_visitor_read_shows_closed_on_start(
    widget: Widget, server: Server
) -> None:
    await widget.open("helpline=day")
    await widget.heading("Day").wait_for()
    server.clock.advance(3 * 3600)  # 17:00: Day has closed
    await widget.button("Start de chat").click()
    await widget.heading("Day is nu gesloten").wait_for()
    await widget.page.get_by_text("We zijn weer open morgen om 09:00.").wait_for()


async def test_visitor_still_waiting_at_closing_time_is_told_when_it_opens_again(
    widget: Widget, server: Server
) -> None:
    await widget.open("helpline=day")
    await widget.button("Start de chat").click()
    await widget.queued()
    server.clock.advance(3 * 3600)
    await server.tick()
    await widget.heading("Het gesprek is beëindigd").wait_for()
    await widget.page.get_by_text(
        "De chat is gesloten voordat er een hulpverlener vrij was."
    ).wait_for()
    await widget.page.get_by_text("We zijn weer open op donderdag 3 december om 09:00.").wait_for()
    assert await widget.button("Gesprek downloaden").is_hidden()


async def test_choosing_a_helpline_when_none_is_given(widget: Widget) -> None:
    await widget.open("")
    await widget.heading("Met wie wil je chatten?").wait_for()
    await widget.button("Alpha nu open").wait_for()
    await widget.button("Shut nu gesloten").click()
    await widget.heading("Shut is nu gesloten").wait_for()

    await widget.open("helpline=nope")
    await widget.heading("Met wie wil je chatten?").wait_for()
    await widget.button("Alpha nu open").click()
    await widget.heading("Alpha").wait_for()
    await widget.button("Andere hulplijn kiezen").click()
    await widget.heading("Met wie wil je chatten?").wait_for()


async def test_full_queue_says_so_and_offers_to_try_again(widget: Widget, server: Server) -> None:
    helpline = server.app[BOARD].config.helpline("alpha")
    assert helpline is not None
    for _ in range(helpline.max_queue):
        visitor = server.visitor()
        await visitor.connect()
        assert (await visitor.call("start", {"helpline": "alpha"}))["status"] == "queued"
    await widget.open()
    await widget.button("Start de chat").click()
    await widget.heading("Het is nu erg druk").wait_for()
    await widget.page.get_by_role("link", name="0800-1234").wait_for()
    await widget.button("Probeer het opnieuw").click()
    await widget.heading("Alpha").wait_for()


async def test_english_from_the_lang_parameter_or_the_browser(new_widget: WidgetFactory) -> None:
    by_param = await new_widget()
    await by_param.open("helpline=alpha&lang=en")
    await by_param.heading("Alpha").wait_for()
    await by_param.page.get_by_text("Alpha is there for anyone who is worried.").wait_for()
    await by_param.button("Quick exit").wait_for()
    assert await by_param.page.evaluate("document.documentElement.lang") == "en"

    by_browser = await new_widget(locale="en-GB")
    await by_browser.open("helpline=alpha")
    await by_browser.button("Start the chat").wait_for()

    other_language = await new_widget(locale="de-DE")
    await other_language.open("helpline=alpha")
    await other_language.button("Start de chat").wait_for()
    assert await other_language.page.evaluate("document.documentElement.lang") == "nl"
