"""The processes under test: `chatserver run`, the bare relay and a private redis-server.

Each runs as a real subprocess on a free loopback port, logging to a file in the run's work
folder. Their CPU time and memory are read from /proc around each measured phase.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_CONFIG = ROOT / "bench" / "config"
# `--redis` needs a secret of 32+ characters; this one protects nothing but benchmark text.
SECRET = "bench-secret-not-for-production-0123456789"
PASSWORD = "bench password, long enough"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU seconds (user + system) and resident memory of one process at one moment."""

    cpu_s: float
    rss_kib: int


def usage(pid: int) -> Usage:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        # Fields after the command name (which may hold spaces) start at the last ')'.
        fields = f.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    rss_kib = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
                break
    return Usage(cpu_s, rss_kib)


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes) since boot."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


class Process:
    """A subprocess that answers GET /healthz when it is ready."""

    def __init__(self, name: str, workdir: Path, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.workdir = workdir
        self.argv = argv
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} is not running"
        return self.popen.pid

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the process without waiting for it (see wait_ready)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [*self.argv, "--port", str(self.port)],
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        assert self.popen is not None, f"{self.name} was not launched"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not come up:\n{self.log_tail()}")

    def usage(self) -> Usage:
        return usage(self.pid)

    def stop(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self.popen = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Process:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def chatserver_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "chatserver.cli", *args]


def chatserver(workdir: Path, name: str, data_dir: Path, redis_url: str | None = None) -> Process:
    """`chatserver run` with the bench config; --redis when a URL is given."""
    options = ["--config", str(BENCH_CONFIG), "--data-dir", str(data_dir)]
    if redis_url:
        options += ["--redis", redis_url]
    return Process(name, workdir, chatserver_argv("run", *options), {"CHATSERVER_SECRET": SECRET})


def bare_relay(workdir: Path, name: str = "bare-relay") -> Process:
    return Process(name, workdir, [sys.executable, "-m", "bench.bare_relay"], {})


def add_counselors(
    accounts: list[tuple[str, str]], data_dir: Path, redis_url: str | None = None
) -> None:
    """Create counselor accounts, (name, helpline) each, the way an operator does:
    `chatserver users add` (see bench/users.py), split over one process per core."""
    names = [f"{name}:{helpline}" for name, helpline in accounts]
    options = ["--config", str(BENCH_CONFIG), "--data-dir", str(data_dir)]
    if redis_url:
        options += ["--redis", redis_url]

    def add(part: list[str]) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "bench.users", *options, *part],
            cwd=ROOT,
            env={**os.environ, "CHATSERVER_SECRET": SECRET},
            input=PASSWORD + "\n",
            text=True,
            capture_output=True,
            check=False,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"chatserver users add failed: {done.stderr.strip()}")

    cores = os.cpu_count() or 2
    parts = [names[i::cores] for i in range(cores) if names[i::cores]]
    # One process first: a users.json written by two processes at once would lose accounts.
    if redis_url is None:
        parts = [names]
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        list(pool.map(add, parts))


class RedisProcess:
    """A private redis-server on a free port (never 6379), persisting like production
    (append-only file, fsync every second). It starts empty, or from a snapshot() of
    another one (the accounts, made once)."""

    def __init__(self, workdir: Path, seed: Path | None = None) -> None:
        self.directory = workdir / "redis"
        self.seed = seed
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        if self.seed is not None:
            shutil.copyfile(self.seed, self.directory / "dump.rdb")
        self.popen = subprocess.Popen(
            [
                REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.directory), "--dbfilename", "dump.rdb", "--save", "",
                # Loaded from the snapshot first; the append-only file starts right after.
                "--appendonly", "no" if self.seed else "yes", "--appendfsync", "everysec",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if "PONG" in self.command("PING"):
                    break
            except OSError:
                time.sleep(0.02)
        else:
            raise RuntimeError(f"redis-server did not start on port {self.port}")
        if self.seed is not None:
            self.command("CONFIG", "SET", "appendonly", "yes")

    def command(self, *args: str) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
            conn.sendall(
                (f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)).encode()
            )
            return conn.recv(4096).decode(errors="replace")

    def snapshot(self, path: Path) -> Path:
        """Everything in this Redis now, as an RDB file another RedisProcess can start from."""
        reply = self.command("SAVE")
        if "OK" not in reply:
            raise RuntimeError(f"redis SAVE failed: {reply.strip()}")
        shutil.copyfile(self.directory / "dump.rdb", path)
        return path

    def usage(self) -> Usage:
        return usage(self.pid)

    def stop(self) -> None:
        if self.popen is not None:
            self.popen.kill()
            self.popen.wait(timeout=10)
            self.popen = None

    def __enter__(self) -> RedisProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
