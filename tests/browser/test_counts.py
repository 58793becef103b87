"""Issue 11 in Chromium: closed visits counted once per visit, wrap-up outcomes in the console,
and the managers' dashboard showing the scripted numbers (tiles, chart, heat map, year table)
with CSV downloads equal to the API. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import re
from datetime import date

import aiohttp
import pytest
from playwright.async_api import expect

from chatserver.web.keys import BOARD, STORE
from tests.browser.conftest import Widget, WidgetFactory
from tests.browser.test_console import ConsoleFactory, logged_in, new_console, visitor
from tests.integration.conftest import Server

pytestmark = pytest.mark.asyncio(loop_scope="session")
__all__ = ["new_console"]  # the fixture, imported for this module's tests

TODAY = date(2026, 12, 2)


async def counted(server: Server, helpline: str, name: str) -> int:
    await server.app[BOARD].drain()
    days = await server.app[STORE].daily_counts(TODAY, TODAY, helpline)
    return sum(int(d.counts.get(name, 0)) for d in days)


async def until_counted(server: Server, helpline: str, name: str, value: int) -> None:
    for _ in range(100):
        if await counted(server, helpline, name) == value:
            return
        await asyncio.sleep(0.05)
    assert await counted(server, helpline, name) == value


async def test_a_closed_visit_counts_once_and_a_reload_does_not(
    new_widget: WidgetFactory, server: Server
) -> None:
    widget: Widget = await new_widget()
    await widget.open("helpline=shut")
    await widget.heading("Shut is nu gesloten").wait_for()
    await until_counted(server, "shut", "closed_attempts", 1)
    await widget.page.reload()
    await widget.heading("Shut is nu gesloten").wait_for()
    await asyncio.sleep(0.5)
    assert await counted(server, "shut", "closed_attempts") == 1
    # Another visit (a new tab, so a new sessionStorage) counts again.
    other = await new_widget()
    await other.open("helpline=shut")
    await other.heading("Shut is nu gesloten").wait_for()
    await until_counted(server, "shut", "closed_attempts", 2)
    # An open helpline is never counted as closed, whatever the browser does.
    alpha = await new_widget()
    await alpha.open("helpline=alpha")
    await alpha.page.get_by_role("button", name="Start de chat").wait_for()
    await asyncio.sleep(0.3)
    assert await counted(server, "alpha", "closed_attempts") == 0


async def test_a_chat_the_visitor_ended_cannot_be_closed_without_an_outcome(
    new_console: ConsoleFactory, server: Server
) -> None:
    console = await logged_in(new_console, server)
    await console.available()
    first, _ = await visitor(server)
    await console.tab_for(1).wait_for()
    await first.next("assigned")
    await first.call("end", {})
    page = console.page
    await page.get_by_text("De bezoeker heeft de chat beëindigd.", exact=False).wait_for()
    await page.get_by_text("Leg de uitkomst vast om deze chat te sluiten.", exact=False).wait_for()

    await console.button("Sluiten").click()
    dialog = page.get_by_role("dialog", name="Uitkomst vastleggen")
    await dialog.wait_for()
    await dialog.get_by_role("button", name="Vastleggen en sluiten").click()
    await dialog.locator("#end-error").get_by_text("Kies een uitkomst.").wait_for()
    await dialog.get_by_role("button", name="Annuleren").click()
    assert await console.tab_for(1).count() == 1  # still there, still owing its outcome
    assert await counted(server, "alpha", "outcome_none") == 0
    # A reload keeps the chat in its wrap-up state (sessionStorage, like open chats).
    await page.reload()
    await page.get_by_text("Verbonden").wait_for()
    await page.get_by_text("Leg de uitkomst vast om deze chat te sluiten.", exact=False).wait_for()

    await console.button("Sluiten").click()
    await dialog.get_by_label("Uitkomst (verplicht)").select_option(label="Geen uitkomst")
    await dialog.get_by_role("button", name="Vastleggen en sluiten").click()
    await console.tab_for(1).wait_for(state="detached")
    await until_counted(server, "alpha", "outcome_none", 1)
    assert await counted(server, "alpha", "answered") == 1


async def seed_numbers(server: Server) -> None:
    """A scripted year: alpha grows, "day" is new this year, closed-hours demand on shut."""
    store = server.app[STORE]
    await store.add_counts("alpha", date(2025, 6, 3), {"answered": 40, "tally_phone": 10})
    await store.add_counts(
        "alpha",
        TODAY,
        {"requested": 7, "answered": 6, "tally_phone": 2, "tally_email": 1,
         "wait_under_1m": 4, "wait_1_5m": 2, "duration_5_15m": 6,
         "outcome_counselling": 4, "outcome_none": 2},
    )  # fmt: skip
    await store.add_counts("alpha", date(2026, 11, 30), {"answered": 30, "tally_email": 11})
    await store.add_counts("day", date(2026, 3, 4), {"answered": 5})
    await store.add_counts("shut", TODAY, {"closed_attempts": 9})
    await store.add_demand("shut", "2026-12", {"closed:2:14": 9})
    await store.add_demand("alpha", "2026-12", {"open:2:14": 7})


async def test_the_dashboard_shows_the_scripted_numbers_and_csv_equals_the_api(
    new_console: ConsoleFactory, server: Server
) -> None:
    await seed_numbers(server)
    await server.add_account("mia", role="manager")
    dash = await new_console()
    await dash.open("/dashboard/")
    await dash.login("mia")
    page = dash.page
    await page.get_by_role("heading", name="Contacten per hulplijn").wait_for()
    alpha = page.locator('#tiles [data-helpline="alpha"]')
    # Today 9 (6 chats, 2 calls, 1 e-mail); this week adds Monday's 41; this year 50.
    await expect(alpha.locator("dt")).to_have_text(["Vandaag", "Deze week", "Dit jaar", ""])
    await expect(alpha.locator("dd")).to_have_text(["9", "50", "50", "+0% t.o.v. vorig jaar"])
    await page.locator('#tiles [data-helpline="day"]').get_by_text("nieuw").wait_for()

    await page.get_by_role("button", name="30 dagen").click()
    daily = page.locator("#daily")
    await daily.get_by_role("row", name=re.compile("2026-12-02 Alpha 7 6")).wait_for()
    await daily.locator("tfoot").get_by_text("Totaal").wait_for()
    await page.locator("#chart canvas").first.wait_for()
    await page.locator("#chart .u-legend").get_by_text("Telefoon").wait_for()
    assert await daily.get_by_role("columnheader", name="Geen uitkomst").count() == 1
    assert await daily.get_by_role("columnheader", name="closed_attempts").count() == 0

    await page.locator("#wait-summary").get_by_text(re.compile("Mediaan 45 s")).wait_for()
    await page.get_by_label("Hulplijn", exact=True).first.select_option(label="Shut")
    heat = page.locator("#heat-closed")
    await heat.get_by_role("row", name=re.compile(r"^wo\b")).get_by_text("9").wait_for()

    year = page.locator("#year-table")
    await year.get_by_role("row", name=re.compile(r"^Alpha Contacten 50 50 \+0%")).wait_for()
    await year.get_by_role("row", name=re.compile(r"^Day Chat 5 0 nieuw")).wait_for()
    await page.locator("#planner-result").get_by_text("contacten per jaar").wait_for()

    # The CSV buttons download exactly what the API answers.
    token = await server.login("mia")
    for link in ("csv", "csv-summary", "csv-demand", "csv-year"):
        href = await page.locator(f"#{link}").get_attribute("href")
        assert href
        downloaded = await page.evaluate(
            "async (href) => (await fetch(href, {credentials: 'same-origin'})).text()", href
        )
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{server.url}{href.replace('.csv', '', 1)}",
                headers={"Authorization": f"Bearer {token}", "Accept": "text/csv"},
            ) as response,
        ):
            assert downloaded == await response.text(), link

    await dash.tab.screenshot("dashboard-counts-nl")
    assert await dash.tab.axe() == []
    await dash.open("/dashboard/?lang=en")
    await page.get_by_role("heading", name="Contacts per helpline").wait_for()
    await page.locator("#year-table").get_by_text("Contacts").first.wait_for()
    await dash.tab.screenshot("dashboard-counts-en")
