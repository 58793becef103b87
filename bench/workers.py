"""The load generator's processes: a parent drives several worker processes in lock step.

Each worker runs one role (an async function in bench.roles) on its own event loop (uvloop
where installed) and talks to the parent over a pipe: the role reports a phase with
`link.send(kind, payload)` and waits for the next with `await link.receive(kind)`. The parent
waits for every worker's report before it moves all of them on, so phases (connect, load,
close) start together and the parent can read the server's CPU and memory in between.

Times cross processes as `time.monotonic_ns()`: CLOCK_MONOTONIC is one clock for the whole
machine on Linux, so a timestamp taken in one worker can be subtracted in another.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
import traceback
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

from bench.server_process import Usage, usage

Role = Callable[["Link", dict[str, Any]], Coroutine[Any, Any, None]]


class WorkerFailed(RuntimeError):
    pass


class Link:
    """The worker's end of its pipe to the parent."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def send(self, kind: str, payload: Any = None) -> None:
        self.conn.send((kind, payload))

    async def receive(self, kind: str) -> Any:
        got, payload = await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)
        if got != kind:
            raise RuntimeError(f"worker expected {kind!r} from the parent, got {got!r}")
        return payload


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _worker_main(conn: Connection, role_name: str, spec: dict[str, Any]) -> None:
    from bench import roles

    role: Role = getattr(roles, role_name)
    link = Link(conn)
    try:
        # Started before the server is ready; the parent says when to begin.
        got, _ = conn.recv()
        if got != "begin":
            return
        with asyncio.Runner(loop_factory=_new_loop) as runner:
            runner.run(role(link, spec))
    except BaseException:
        with contextlib.suppress(OSError):
            link.send("error", traceback.format_exc())
        raise
    finally:
        conn.close()


class Fleet:
    """The parent's end: start workers, wait for a phase from all of them, move them on."""

    def __init__(self, role: str, specs: list[dict[str, Any]]) -> None:
        self.role = role
        self.specs = specs
        # A fork server that has imported the roles (aiohttp, ...) starts workers in
        # milliseconds, without the parent's state.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["bench.roles"])
        self._workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []

    def start(self) -> Fleet:
        """Start the worker processes; they wait for begin() before they connect."""
        for spec in self.specs:
            parent_end, child_end = self._context.Pipe()
            process = self._context.Process(
                target=_worker_main, args=(child_end, self.role, spec), daemon=True
            )
            process.start()
            child_end.close()
            self._workers.append((process, parent_end))
        return self

    def begin(self) -> None:
        self.send("begin")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p, _ in self._workers if p.pid is not None]

    def usage(self) -> Usage:
        """CPU and memory of all workers together."""
        parts = [usage(pid) for pid in self.pids]
        return Usage(sum(u.cpu_s for u in parts), sum(u.rss_kib for u in parts))

    def send(self, kind: str, payload: Any = None) -> None:
        for _, conn in self._workers:
            conn.send((kind, payload))

    def expect(self, kind: str, timeout: float) -> list[Any]:
        """One `kind` report from every worker, in worker order."""
        deadline = time.monotonic() + timeout
        results: list[Any] = []
        for process, conn in self._workers:
            while not conn.poll(0.1):
                if not process.is_alive():
                    raise WorkerFailed(f"a {self.role} worker died (exit {process.exitcode})")
                if time.monotonic() > deadline:
                    raise WorkerFailed(f"{self.role} workers did not report {kind!r} in time")
            got, payload = conn.recv()
            if got == "error":
                raise WorkerFailed(f"a {self.role} worker failed:\n{payload}")
            if got != kind:
                raise WorkerFailed(f"a {self.role} worker sent {got!r}, expected {kind!r}")
            results.append(payload)
        return results

    def step(self, kind: str, payload: Any, expect: str, timeout: float) -> list[Any]:
        self.send(kind, payload)
        return self.expect(expect, timeout)

    def close(self, wait: float = 10) -> None:
        for process, conn in self._workers:
            process.join(timeout=wait)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
            conn.close()
        self._workers = []

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # After a failure the workers may be waiting for a phase that never comes.
        self.close(wait=10 if exc_type is None else 0.5)
