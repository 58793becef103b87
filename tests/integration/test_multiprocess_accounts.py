"""Logins across real `chatserver run` processes on one real Redis: one throttle, one TOTP
memory and one notion of which sessions are still valid, whichever process is asked."""

from __future__ import annotations

import asyncio

import aiohttp

from chatserver.throttle import PAIR_MAX_FAILURES
from tests.helpers import Client
from tests.integration import test_multiprocess
from tests.integration.test_multiprocess import Cluster
from tests.integration.test_session_revocation import ends_with
from tests.processes import PASSWORD, ServerProcess, chatserver

NEW_PASSWORD = "another long and careful password"
# The same fixture: real processes on a private Redis, counselors carla and otto.
cluster = test_multiprocess.cluster


async def post_login(http: aiohttp.ClientSession, process: ServerProcess, password: str) -> int:
    body = {"username": "carla", "password": password}
    async with http.post(f"{process.url}/api/login", json=body) as response:
        return response.status


async def me(http: aiohttp.ClientSession, process: ServerProcess, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{process.url}/api/me", headers=headers) as response:
        return response.status


async def socket_on(cluster: Cluster, process: ServerProcess, token: str) -> Client:
    client = Client(process.url, "/counselor")
    cluster.clients.append(client)
    await client.connect(auth={"token": token})
    await client.next("availability")
    return client


async def test_concurrent_wrong_passwords_on_two_processes_share_one_throttle(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start("a"), await cluster.start("b")
    async with aiohttp.ClientSession() as http:
        statuses = await asyncio.gather(
            *(post_login(http, (a, b)[i % 2], f"wrong password {i}") for i in range(60))
        )
    assert sorted(statuses) == [401] * PAIR_MAX_FAILURES + [429] * (60 - PAIR_MAX_FAILURES)


async def test_a_password_change_and_a_logout_end_sockets_on_every_process(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start("a"), await cluster.start("b")
    async with aiohttp.ClientSession() as http:
        # Logged in on a, connected to b; logging out on a ends the socket on b.
        token = await a.login("carla")
        socket = await socket_on(cluster, b, token)
        async with http.post(
            f"{a.url}/api/logout", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status == 200
        await ends_with(socket, "session_ended")
        assert await me(http, b, token) == 401

        # `users passwd` (a third process) ends every older session on a and b.
        token = await b.login("carla")
        on_a, on_b = await socket_on(cluster, a, token), await socket_on(cluster, b, token)
        await asyncio.to_thread(
            chatserver, "users", "passwd", "carla", "--password-stdin", *cluster.options,
            cwd=cluster.workdir, stdin=NEW_PASSWORD + "\n",
        )  # fmt: skip
        for process in (a, b):
            assert await me(http, process, token) == 401
        await ends_with(on_a, "credentials_changed")
        await ends_with(on_b, "credentials_changed")
        assert await post_login(http, a, PASSWORD) == 401
        assert await post_login(http, b, NEW_PASSWORD) == 200

        # `users remove` ends the rest.
        token = await a.login("carla", NEW_PASSWORD)
        socket = await socket_on(cluster, b, token)
        await asyncio.to_thread(
            chatserver, "users", "remove", "carla", *cluster.options, cwd=cluster.workdir
        )
        await ends_with(socket, "account_removed")
