"""Real `chatserver run` processes for tests that need several of them, or need to kill one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.redis_server import _free_port

SECRET = "test-secret-that-is-long-enough-0123456789"
PASSWORD = "a long and careful password"


def chatserver(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatserver.cli", *args],
        cwd=cwd,
        env={**os.environ, "CHATSERVER_SECRET": SECRET, **(env or {})},
        input=stdin,
        text=True,
        capture_output=True,
        check=True,
        timeout=60,
    )


class ServerProcess:
    """One `chatserver run` on a free port, logging to a file the test can read."""

    def __init__(
        self, workdir: Path, name: str, *options: str, env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.name = name
        self.options = options
        self.env = env or {}
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "CHATSERVER_SECRET": SECRET, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chatserver.cli", "run", "--port", str(self.port),
                 *self.options],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def wait_healthy(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited:\n{self.log_path.read_text()}")
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} did not come up:\n{self.log_path.read_text()}")

    async def login(self, username: str, password: str = PASSWORD) -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.url}/api/login", json={"username": username, "password": password}
            ) as response,
        ):
            assert response.status == 200, await response.text()
            return str((await response.json())["token"])

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, as when a host dies."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
