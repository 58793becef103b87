"""deploy/nginx.conf, run for real: nginx on a loopback port in front of two `chatserver run`
processes on one Redis carries a whole chat, over websocket and over long-polling.

./dev test installs Debian's nginx-light when it is missing.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import Client, always_open_config
from tests.integration.test_multiprocess import Cluster
from tests.processes import PASSWORD, ServerProcess
from tests.redis_server import RedisServer, _free_port

NGINX_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
CONFIG = always_open_config(
    max_queue=10, max_chats=3, server='[server]\ntrusted_proxies = ["127.0.0.1"]\n'
)


class Nginx:
    def __init__(self, workdir: Path, upstreams: list[ServerProcess]) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        text = NGINX_CONF.read_text()
        for n, process in enumerate(upstreams, start=1):
            text = text.replace(f"chatserver-{n}:8080", f"127.0.0.1:{process.port}")
        text = text.replace("listen 8443 default_server;", f"listen 127.0.0.1:{self.port};")
        text = text.replace("/tmp/", f"{workdir}/").replace("/dev/stderr", f"{workdir}/error.log")
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(text)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        args = [nginx, "-p", str(self.workdir), "-c", str(self.conf), "-g", "daemon off;"]
        checked = subprocess.run([*args[:-2], "-t"], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def nginx_binary() -> Iterator[str]:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    assert found, "nginx is missing: ./dev test installs Debian's nginx-light"
    yield found


@pytest.fixture
async def behind_proxy(
    tmp_path: Path, own_redis: RedisServer, nginx_binary: str
) -> AsyncIterator[tuple[Cluster, Nginx]]:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "helplines.toml").write_text(CONFIG)
    cluster = Cluster(tmp_path, own_redis)
    cluster.add_counselor("carla")
    a, b = await cluster.start("a"), await cluster.start("b")
    (tmp_path / "nginx").mkdir()
    proxy = Nginx(tmp_path / "nginx", [a, b])
    proxy.start()
    try:
        yield cluster, proxy
    finally:
        proxy.stop()
        await cluster.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_a_whole_chat_through_nginx_in_front_of_two_processes(
    behind_proxy: tuple[Cluster, Nginx], transport: str
) -> None:
    cluster, proxy = behind_proxy
    transports = (transport,)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/healthz") as response:
            assert response.status == 200
        async with http.post(
            f"{proxy.url}/api/login", json={"username": "carla", "password": PASSWORD}
        ) as response:
            assert response.status == 200, await response.text()
            token = (await response.json())["token"]

    visitor = Client(proxy.url, "/visitor")
    counselor = Client(proxy.url, "/counselor")
    cluster.clients += [visitor, counselor]
    await visitor.connect(transports=transports)
    started = await visitor.call("start", {"helpline": "alpha", "lang": "nl"})
    assert started["status"] == "queued"
    await counselor.connect(auth={"token": token}, transports=transports)
    assert (await counselor.call("availability", {"available": True}))["available"]
    chat_id = (await counselor.next("assigned"))["chat_id"]
    assert (await visitor.next("assigned"))["counselor_name"] == "Carla"
    assert visitor.sio.transport() == transport and counselor.sio.transport() == transport

    for n in range(1, 4):
        ack = await visitor.call("message", {"text": f"vraag {n}", "client_msg_id": f"v{n}"})
        assert (await counselor.next("message"))["text"] == f"vraag {n}"
        reply = await counselor.call(
            "message", {"chat_id": chat_id, "text": f"antwoord {n}", "client_msg_id": f"c{n}"}
        )
        assert reply["seq"] == ack["seq"] + 1
        assert (await visitor.next("message"))["text"] == f"antwoord {n}"
    assert await visitor.call("end", {}) == {"ok": True}
    assert (await counselor.next("ended"))["reason"] == "visitor"
    await asyncio.gather(visitor.disconnect(), counselor.disconnect())
