"""Login CSRF in Chromium: a page on another local origin (another port) cannot log us in.

The attacker's page holds an HTML form that posts its own username and password to the chat
server as text/plain (which needs no CORS preflight) and submits itself. Before the origin
check, the browser came back logged in as the attacker, so a counselor could be made to type
into the attacker's account. The same browser then logs in normally on the console.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, expect

from chatserver.auth import SESSION_COOKIE
from tests.browser.conftest import SCREENSHOTS, TIMEOUT_MS
from tests.integration.conftest import PASSWORD, Server, free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")


def attacker_page(target: str) -> str:
    # text/plain encodes a field as name=value: the JSON is split so the "=" lands in a string.
    name = json.dumps({"username": "mallory", "password": PASSWORD, "pad": ""})[:-2]
    return f"""<!doctype html><title>Free prizes</title>
<form method="post" action="{target}/api/login" enctype="text/plain">
<input type="hidden" name="{html.escape(name)}" value='"}}'>
</form>
<script>document.forms[0].submit()</script>"""


@pytest_asyncio.fixture(loop_scope="session")
async def attacker_origin(server: Server) -> AsyncIterator[str]:
    """A second origin on this machine: the same host, another port."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=attacker_page(server.url), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_form_on_another_origin_cannot_log_the_browser_in(
    browser: Browser, server: Server, attacker_origin: str
) -> None:
    await server.add_account("mallory")
    await server.add_account("carla")
    context = await browser.new_context(locale="nl-NL")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        async with page.expect_response(f"{server.url}/api/login") as answer:
            await page.goto(attacker_origin)
        response = await answer.value
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "forbidden"
        cookies = await context.cookies(server.url)
        assert SESSION_COOKIE not in {cookie["name"] for cookie in cookies}

        # The console shows the login form, not the attacker's account.
        await page.goto(f"{server.url}/console/")
        await expect(page.get_by_label("Gebruikersnaam")).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "login-csrf-refused.png"))

        # Our own origin still logs in (the console's api() helper sends JSON, same origin).
        await page.get_by_label("Gebruikersnaam").fill("carla")
        await page.get_by_label("Wachtwoord").fill(PASSWORD)
        await page.get_by_role("button", name="Inloggen", exact=True).click()
        await expect(page.get_by_role("button", name="Uitloggen")).to_be_visible()
        cookies = await context.cookies(server.url)
        assert SESSION_COOKIE in {cookie["name"] for cookie in cookies}
    finally:
        await context.close()
