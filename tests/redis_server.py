"""A private redis-server for the tests: own port, own folder, can be stopped and started.

Tests never share the machine's Redis on 6379: each session starts its own, so a test can
kill it, restart it and read its append-only file.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # appendfsync always: an acknowledged write is on disk before Redis answers.
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--protected-mode", "yes",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._wait()

    def stop(self) -> None:
        """A clean shutdown: Redis writes everything it acknowledged, then exits."""
        if self.process is None:
            return
        self._cli("shutdown")
        self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def flush(self) -> None:
        self._cli("flushall")

    def aof_bytes(self) -> bytes:
        """Everything Redis has written to its append-only files so far."""
        return b"".join(p.read_bytes() for p in sorted(self.directory.rglob("*.aof")))

    def _cli(self, *args: str) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            command = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
            conn.sendall(command.encode())
            try:
                return conn.recv(4096).decode(errors="replace")
            except OSError:
                return ""

    def _wait(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if "PONG" in self._cli("ping"):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")
