"""A counselor whose session ends elsewhere (password changed) is shown the login form and why."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from chatserver import crypto
from tests.browser.conftest import SCREENSHOTS, TIMEOUT_MS
from tests.integration.conftest import PASSWORD, Server

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_console_returns_to_login_with_a_reason_when_the_password_changes(
    browser: Browser, server: Server
) -> None:
    await server.add_account("carla")
    context = await browser.new_context(locale="nl-NL")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        await page.goto(f"{server.url}/console/")
        await page.get_by_label("Gebruikersnaam").fill("carla")
        await page.get_by_label("Wachtwoord").fill(PASSWORD)
        await page.get_by_role("button", name="Inloggen", exact=True).click()
        await expect(page.get_by_role("button", name="Uitloggen")).to_be_visible()
        await page.get_by_text("Verbonden").first.wait_for()

        # What `chatserver users passwd carla` does to the file the server reads.
        new_hash = crypto.hash_password("a brand new and long password")
        assert await server.accounts.set_password("carla", new_hash)
        await expect(page.get_by_role("alert")).to_have_text(
            "Je bent uitgelogd. Log opnieuw in om verder te gaan.", timeout=8000
        )
        await expect(page.get_by_label("Gebruikersnaam")).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "console-logged-out.png"))
    finally:
        await context.close()
