"""Logout, a password change and account removal end a session everywhere: its token stops
working over HTTP, and its live /counselor sockets are told (`logged_out`) and disconnected.

The `users` command runs as its own process on the server's data dir, as in production.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio

from chatserver import totp
from tests.helpers import Client
from tests.integration.conftest import Server

NEW_PASSWORD = "a brand new and long password"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def users(server: Server, *args: str, stdin: str | None = None) -> None:
    """`chatserver users ...` in another process, on the data dir the server reads."""
    config_dir = server.data_dir.parent / server.data_dir.name.replace("data", "config")
    subprocess.run(
        [sys.executable, "-m", "chatserver.cli", "users", *args,
         "--config", str(config_dir), "--data-dir", str(server.data_dir)],
        input=stdin, text=True, capture_output=True, check=True, timeout=60,
    )  # fmt: skip


async def me(http: aiohttp.ClientSession, server: Server, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{server.url}/api/me", headers=headers) as response:
        return response.status


async def connected_counselor(server: Server, token: str) -> Client:
    client = Client(server.url, "/counselor")
    server.clients.append(client)
    await client.connect(auth={"token": token})
    await client.next("availability")
    return client


async def logged_in_on_a_socket(server: Server) -> tuple[str, Client]:
    """carla, logged in, with the console's socket connected on that session."""
    await server.add_account("carla")
    token = await server.login("carla")
    return token, await connected_counselor(server, token)


async def until_disconnected(client: Client, timeout: float = 8.0) -> None:
    async with asyncio.timeout(timeout):
        while client.sio.connected:
            await asyncio.sleep(0.05)


async def ends_with(client: Client, reason: str) -> dict[str, Any]:
    event: dict[str, Any] = await client.next("logged_out", timeout=8.0)
    assert event["reason"] == reason
    assert event["message"]
    await until_disconnected(client)
    return event


async def test_logout_ends_the_token_and_the_sessions_live_sockets(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    token, other_token = await server.login("carla"), await server.login("carla")
    socket = await connected_counselor(server, token)
    other_tab = await connected_counselor(server, other_token)
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{server.url}/api/logout", headers=headers) as response:
        assert response.status == 200
    await ends_with(socket, "session_ended")
    assert await me(http, server, token) == 401
    # Another session of the same account (another browser) goes on.
    assert other_tab.sio.connected
    assert await me(http, server, other_token) == 200
    refused = Client(server.url, "/counselor")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(auth={"token": token})
    assert (await refused.next("connect_error"))["data"]["code"] == "unauthorized"


async def test_users_passwd_ends_every_older_session_and_its_sockets(
    server: Server, http: aiohttp.ClientSession
) -> None:
    token, socket = await logged_in_on_a_socket(server)
    await asyncio.to_thread(users, server, "passwd", "carla", "--password-stdin",
                            stdin=NEW_PASSWORD + "\n")  # fmt: skip
    assert await me(http, server, token) == 401
    await ends_with(socket, "credentials_changed")
    body = {"username": "carla", "password": NEW_PASSWORD}
    async with http.post(f"{server.url}/api/login", json=body) as response:
        assert response.status == 200
        assert await me(http, server, (await response.json())["token"]) == 200


async def test_users_remove_ends_the_sessions_and_their_sockets(
    server: Server, http: aiohttp.ClientSession
) -> None:
    token, socket = await logged_in_on_a_socket(server)
    await asyncio.to_thread(users, server, "remove", "carla")
    await ends_with(socket, "account_removed")
    assert await me(http, server, token) == 401


async def test_turning_on_totp_ends_the_sessions_made_without_it(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    token = await server.login("carla")
    assert await server.accounts.set_totp("carla", totp.new_secret())
    assert await me(http, server, token) == 401
