"""The scenarios, parent side: start the server under test, drive a Fleet, measure, report.

Each `run_*` function starts its own server process(es), so no scenario sees another's state,
and returns a JSON-ready dict. Server CPU is read from /proc at the start and the end of the
measured window; memory (RSS) before and after the visitors connect.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import stats
from bench.server_process import (
    Process,
    RedisProcess,
    Usage,
    add_counselors,
    bare_relay,
    chatserver,
    machine_busy_s,
)
from bench.workers import Fleet

Log = Callable[[str], None]


@dataclass
class Settings:
    workdir: Path
    log: Log = print
    workers: int = 2
    compress: bool = True
    # idle
    visitors: int = 1000
    warm_visitors: int = 100
    connect_concurrency: int = 64
    idle_no_deflate: bool = True  # also the bare relay with clients that offer no deflate
    # relay / baseline
    chats: int = 200
    rate: float = 2.0
    duration_s: float = 8.0
    repeats: int = 1
    chats_per_counselor: int = 20
    text_len: int = 64
    sweep: list[int] = field(default_factory=list)
    sweep_duration_s: float = 8.0
    # relay counselors' protocol (1: as the 2026-11-28 reference; 2: confirm, heartbeats)
    relay_protocol: int = 1
    # assignment (protocol-2 counselors), per deployment: memory, Redis x 1, Redis x 2
    assign_counselors: int = 10
    assign_hold_s: float = 1.0
    assign_duration_s: float = 8.0
    assign_overload: float = 1.1
    # multi-process
    mp_chats: int = 100
    mp_rate: float = 2.0
    mp_duration_s: float = 8.0
    # soak
    soak_chats: int = 50
    soak_rate: float = 1.0
    soak_minutes: float = 0.25
    profile: bool = False
    # On a shared machine: before each measured run, wait up to this long for the rest of
    # the machine to use less than quiet_threshold_pct of one core (0 = do not wait).
    quiet_wait_s: float = 0.0
    quiet_threshold_pct: float = 25.0
    # pauses: before reading memory, before a load window opens, after the last arrival
    settle_s: float = 1.0
    lead_s: float = 0.5
    quiet_s: float = 0.5

    def counselors_for(self, chats: int) -> int:
        return max(1, math.ceil(chats / self.chats_per_counselor))


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def _ms(ns: int) -> float:
    return round(ns / 1e6, 3)


class Accounts:
    """Counselor accounts made once per run with `chatserver users add`, copied per server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.template = settings.workdir / "accounts"
        shutil.rmtree(self.template, ignore_errors=True)
        self.relay: list[str] = []
        self.assign: list[str] = []

    def relay_names(self, count: int) -> list[str]:
        return [f"relay-{k:03d}" for k in range(count)]

    def assign_names(self, count: int) -> list[str]:
        return [f"assign-{k:03d}" for k in range(count)]

    def ensure(self, relay: int, assign: int) -> None:
        """Create whatever accounts are still missing in the template data dir."""
        missing = [(name, "bench") for name in self.relay_names(relay)[len(self.relay) :]]
        missing += [(name, "assign") for name in self.assign_names(assign)[len(self.assign) :]]
        if missing:
            add_counselors(missing, self.template)
        self.relay = self.relay_names(max(relay, len(self.relay)))
        self.assign = self.assign_names(max(assign, len(self.assign)))

    def data_dir(self, name: str) -> Path:
        target = self.settings.workdir / "data" / name
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.template.exists():
            shutil.copytree(self.template, target)
        else:
            target.mkdir()
        return target


class RedisAccounts:
    """Counselor accounts live in Redis in Redis mode: made once in the first private
    redis-server, then every later one starts from its snapshot."""

    def __init__(self, settings: Settings, name: str, accounts: list[tuple[str, str]]) -> None:
        self.settings = settings
        self.name = name
        self.accounts = accounts
        self.seed: Path | None = None

    @contextlib.contextmanager
    def redis(self, label: str) -> Iterator[RedisProcess]:
        workdir = self.settings.workdir
        with RedisProcess(workdir / label, self.seed) as redis:
            if self.seed is None:
                add_counselors(self.accounts, workdir / f"{self.name}-accounts", redis.url)
                self.seed = redis.snapshot(workdir / f"{self.name}-accounts.rdb")
            yield redis


# --- 1. idle ------------------------------------------------------------------------------


def run_idle(
    settings: Settings, accounts: Accounts, target: str, compress: bool | None = None
) -> dict[str, Any]:
    """N visitors connect over websocket and wait: memory per visitor, connect rate."""
    n, warm, workers = settings.visitors, settings.warm_visitors, settings.workers
    compress = settings.compress if compress is None else compress
    label = f"idle-{target}" + ("" if compress else "-no-deflate")
    server = _server(settings, accounts, target, label)
    specs = []
    for w in range(workers):
        count = n // workers + (1 if w < n % workers else 0)
        specs.append(
            {
                "target": target,
                "url": server.url,
                "compress": compress,
                "helpline": "bench",
                "first_index": w * 1_000_000,
                "warm": warm // workers + (1 if w < warm % workers else 0),
                "count": count,
                "concurrency": max(1, settings.connect_concurrency // workers),
            }
        )
    if settings.quiet_wait_s:
        wait_for_quiet(settings)
    with running([server], fleet := Fleet("idle_visitors", specs)):
        fleet.expect("warm", timeout=120)
        time.sleep(settings.settle_s)
        before, generator_before = server.usage(), fleet.usage()
        spy = _profile(settings, server, label) if target == "product" else None
        go = time.monotonic_ns()
        fleet.send("go")
        done = fleet.expect("done", timeout=1800)
        connecting_s = (time.monotonic_ns() - go) / 1e9
        generator_cpu_s = fleet.usage().cpu_s - generator_before.cpu_s
        profile = spy.stop() if spy else None
        time.sleep(settings.settle_s)
        after = server.usage()
        fleet.send("close")
        fleet.expect("closed", timeout=300)
    connected = [t for d in done for t in d["connected_ns"]]
    positioned = [t for d in done for t in d["positioned_ns"]]
    errors = _add_counts(d["errors"] for d in done)
    count = len(positioned)
    result: dict[str, Any] = {
        "target": target,
        "deflate_offered": compress,
        "visitors": n,
        "warm_visitors": warm,
        "queued": count,
        "errors": errors,
        "rss_before_kib": before.rss_kib,
        "rss_after_kib": after.rss_kib,
        "rss_per_visitor_kib": round((after.rss_kib - before.rss_kib) / max(1, count), 2),
        "cpu_per_visitor_ms": round((after.cpu_s - before.cpu_s) * 1000 / max(1, count), 3),
        "connect_rate_per_s": round(count / ((max(connected) - go) / 1e9), 1) if count else None,
        "all_positioned_s": round((max(positioned) - go) / 1e9, 3) if count else None,
        "generator_cpu_pct": round(generator_cpu_s / connecting_s * 100, 1),
    }
    if target == "product":
        result["max_position"] = max(d["max_position"] for d in done)
    if profile:
        result["profile"] = profile
    return result


# --- 2 + 3 + 5 + 6. relay -------------------------------------------------------------------


def run_relay(
    settings: Settings,
    accounts: Accounts,
    target: str,
    chats: int,
    rate: float,
    duration_s: float,
    *,
    label: str,
    processes: int = 1,
    redis: RedisProcess | None = None,
    drain_s: float = 5.0,
) -> dict[str, Any]:
    """C chats; each visitor sends `rate` messages/s, its counselor answers every one."""
    counselors = settings.counselors_for(chats)
    if target == "product" and redis is None:
        accounts.ensure(relay=counselors, assign=0)
    servers = [
        _server(settings, accounts, target, f"{label}-{p}", redis.url if redis else None)
        for p in range(processes)
    ]
    names = accounts.relay_names(counselors)
    workers = settings.workers
    visitor_parts = _split(list(range(chats)), workers)
    counselor_parts = _split(list(enumerate(names)), workers)
    specs = [
        {
            "target": target,
            "urls": [s.url for s in servers],
            "compress": settings.compress,
            "helpline": "bench",
            "visitors": visitor_parts[w],
            "counselors": counselor_parts[w],
            "chats_total": chats,
            "counselor_count": counselors,
            "rate": rate,
            "protocol": settings.relay_protocol,
            "text_len": settings.text_len,
            "concurrency": max(1, settings.connect_concurrency // workers),
            "seed": w,
        }
        for w in range(workers)
    ]
    profile_summary: dict[str, Any] | None = None
    if settings.quiet_wait_s:
        wait_for_quiet(settings)
    with running(servers, fleet := Fleet("relay", specs)):
        fleet.expect("counselors_ready", timeout=120)
        fleet.send("visitors")
        fleet.expect("ready", timeout=300)
        t0 = time.monotonic_ns() + int(settings.lead_s * 1e9)
        t1 = t0 + int(duration_s * 1e9)
        fleet.send("go", {"t0": t0, "t1": t1, "drain_s": drain_s, "quiet_s": settings.quiet_s})
        _sleep_until(t0)
        before = _usage(servers, redis, fleet)
        spy = _profile(settings, servers[0], label) if target == "product" else None
        _sleep_until(t1)
        after = _usage(servers, redis, fleet)
        profile_summary = spy.stop() if spy else None
        done = fleet.expect("done", timeout=duration_s + drain_s + 120)
        fleet.send("close")
        fleet.expect("closed", timeout=120)
    result = _relay_result(done, before, after, duration_s, target, chats, rate, processes)
    if profile_summary is not None:
        result["profile"] = profile_summary
    return result


def _relay_result(
    done: list[dict[str, Any]],
    before: dict[str, Usage],
    after: dict[str, Usage],
    duration_s: float,
    target: str,
    chats: int,
    rate: float,
    processes: int,
) -> dict[str, Any]:
    latency = {k: [v for d in done for v in d["latency_us"][k]] for k in ("v2c", "c2v", "ack")}
    delivered = _add_counts(d["delivered"] for d in done)
    relayed = delivered.get("v2c", 0) + delivered.get("c2v", 0)
    spent = {name: after[name].cpu_s - before[name].cpu_s for name in after}
    server_cpu = spent["server"]
    # Whatever else ran on the machine meanwhile (other engineers' tests, ...): a noisy run.
    others = spent["machine"] - sum(v for k, v in spent.items() if k != "machine")
    result: dict[str, Any] = {
        "target": target,
        "processes": processes,
        "chats": chats,
        "rate_per_chat": rate,
        "duration_s": duration_s,
        "offered_msgs_per_s": round(chats * rate * 2, 1),
        "msgs_per_s": round(relayed / duration_s, 1),
        "latency_ms": {k: stats.latency_ms(v) for k, v in latency.items()},
        "server_cpu_pct": round(server_cpu / duration_s * 100, 1),
        "server_cpu_per_msg_ms": round(server_cpu * 1000 / relayed, 4) if relayed else None,
        "server_rss_kib": after["server"].rss_kib,
        "generator_cpu_pct": round(spent["generator"] / duration_s * 100, 1),
        "other_cpu_pct": round(max(0.0, others) / duration_s * 100, 1),
        "errors": _add_counts(d["errors"] for d in done),
        "unacked": sum(d["unacked"] for d in done),
        "retried": sum(d["retried"] for d in done),
        # Connections that ended during the run (the bench does not reconnect): their
        # chats' later messages count as lost.
        "lost_connections": {
            role: _add_counts(d["lost_connections"][role] for d in done)
            for role in ("visitors", "counselors")
        },
        "delivery": _exactness(done),
    }
    if "redis" in spent:
        result["redis_cpu_pct"] = round(spent["redis"] / duration_s * 100, 1)
    return result


def _exactness(done: list[dict[str, Any]]) -> dict[str, int]:
    """Every message sent, in both directions, arrived exactly once and in order?"""
    visitor_side: dict[str, list[int]] = {}
    counselor_side: dict[str, list[int]] = {}
    for d in done:
        visitor_side.update(d["visitor_side"])
        counselor_side.update(d["counselor_side"])
    lost = dup = reorder = sent = 0
    for chat, (v_sent, v_seen, v_dup, v_reorder) in visitor_side.items():
        c_sent, c_seen, c_dup, c_reorder = counselor_side.get(chat, [0, 0, 0, 0])
        sent += v_sent + c_sent
        lost += max(0, v_sent - c_seen) + max(0, c_sent - v_seen)
        dup += v_dup + c_dup
        reorder += v_reorder + c_reorder
    orphans = set(counselor_side) - set(visitor_side)
    return {
        "sent": sent,
        "lost": lost,
        "dup": dup,
        "reorder": reorder,
        "unknown_chats": len(orphans),
    }


def relay_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repeated runs of the same load (p99 is noisy on a shared machine)."""

    def med(get: Callable[[dict[str, Any]], float | None]) -> float | None:
        value = stats.median(get(r) for r in runs)
        return None if value is None else round(value, 4)

    return {
        "runs": len(runs),
        "msgs_per_s": med(lambda r: r["msgs_per_s"]),
        "v2c_p50_ms": med(lambda r: r["latency_ms"]["v2c"]["p50"]),
        "v2c_p95_ms": med(lambda r: r["latency_ms"]["v2c"]["p95"]),
        "v2c_p99_ms": med(lambda r: r["latency_ms"]["v2c"]["p99"]),
        "c2v_p50_ms": med(lambda r: r["latency_ms"]["c2v"]["p50"]),
        "c2v_p95_ms": med(lambda r: r["latency_ms"]["c2v"]["p95"]),
        "c2v_p99_ms": med(lambda r: r["latency_ms"]["c2v"]["p99"]),
        "server_cpu_pct": med(lambda r: r["server_cpu_pct"]),
        "server_cpu_per_msg_ms": med(lambda r: r["server_cpu_per_msg_ms"]),
        "generator_cpu_pct": med(lambda r: r["generator_cpu_pct"]),
        "other_cpu_pct": med(lambda r: r["other_cpu_pct"]),
    }


def run_relay_pair(
    settings: Settings, accounts: Accounts, want_bare: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Scenarios 2 and 3: the product and the bare relay under the same load, interleaved."""
    product_runs, bare_runs = [], []
    for r in range(settings.repeats):
        settings.log(f"  relay run {r + 1}/{settings.repeats}: product")
        product_runs.append(
            run_relay(
                settings, accounts, "product", settings.chats, settings.rate,
                settings.duration_s, label=f"relay-product-{r}",
            )
        )  # fmt: skip
        if want_bare:
            settings.log(f"  relay run {r + 1}/{settings.repeats}: bare relay")
            bare_runs.append(
                run_relay(
                    settings, accounts, "bare", settings.chats, settings.rate,
                    settings.duration_s, label=f"relay-bare-{r}",
                )
            )  # fmt: skip
    relay: dict[str, Any] = {
        "load": _load(settings),
        "summary": relay_summary(product_runs),
        "runs": product_runs,
    }
    if not want_bare:
        return relay, None
    p, b = relay["summary"], relay_summary(bare_runs)
    baseline: dict[str, Any] = {
        "load": _load(settings),
        "summary": b,
        "runs": bare_runs,
        "ratio": {
            "msgs_per_s": stats.ratio(p["msgs_per_s"], b["msgs_per_s"]),
            "server_cpu_per_msg": stats.ratio(
                p["server_cpu_per_msg_ms"], b["server_cpu_per_msg_ms"]
            ),
            "v2c_p50": stats.ratio(p["v2c_p50_ms"], b["v2c_p50_ms"]),
            "v2c_p99": stats.ratio(p["v2c_p99_ms"], b["v2c_p99_ms"]),
            "c2v_p99": stats.ratio(p["c2v_p99_ms"], b["c2v_p99_ms"]),
        },
    }
    if settings.sweep:
        baseline["sweep"] = run_sweep(settings, accounts)
    return relay, baseline


def run_sweep(settings: Settings, accounts: Accounts, p99_limit_ms: float = 25.0) -> dict[str, Any]:
    """More and more chats at `rate` each, until visitor->counselor p99 reaches the limit.

    A point that misses is run once more (best of two): on a shared machine one stray
    process is enough to spoil a single p99.
    """
    result: dict[str, Any] = {"p99_limit_ms": p99_limit_ms, "rate_per_chat": settings.rate}
    for target in ("product", "bare"):
        points, best = [], None
        for chats in settings.sweep:
            for attempt in (1, 2):
                settings.log(f"  sweep {target}: {chats} chats (try {attempt})")
                run = run_relay(
                    settings, accounts, target, chats, settings.rate, settings.sweep_duration_s,
                    label=f"sweep-{target}-{chats}-{attempt}",
                )  # fmt: skip
                p99 = run["latency_ms"]["v2c"]["p99"]
                if p99 is not None and p99 < p99_limit_ms:
                    break
            points.append(
                {
                    "chats": chats,
                    "msgs_per_s": run["msgs_per_s"],
                    "v2c_p99_ms": p99,
                    "server_cpu_pct": run["server_cpu_pct"],
                    "generator_cpu_pct": run["generator_cpu_pct"],
                    "other_cpu_pct": run["other_cpu_pct"],
                    "tries": attempt,
                }
            )
            if p99 is None or p99 >= p99_limit_ms:
                break
            best = run["msgs_per_s"]
        result[target] = {"points": points, "max_msgs_per_s_under_limit": best}
    result["ratio"] = stats.ratio(
        result["product"]["max_msgs_per_s_under_limit"],
        result["bare"]["max_msgs_per_s_under_limit"],
    )
    return result


def _load(settings: Settings) -> dict[str, Any]:
    return {
        "chats": settings.chats,
        "rate_per_chat": settings.rate,
        "duration_s": settings.duration_s,
        "counselors": settings.counselors_for(settings.chats),
        "text_chars": settings.text_len,
    }


# --- 4. assignment --------------------------------------------------------------------------

# A freed slot with someone waiting must reach a visitor's `assigned` within this long.
WAIT_LIMIT_S = 2.0
# (key, store, processes): visitors use the first process, counselors the last one.
ASSIGN_DEPLOYMENTS = (("memory", "memory", 1), ("redis_1", "redis", 1), ("redis_2", "redis", 2))


def run_assignment(settings: Settings, accounts: Accounts) -> dict[str, Any]:
    """Visitors arrive at a fixed rate a little above what the counselors serve, so a slot
    freed by `end` always has someone waiting: the time to that visitor's `assigned`.

    Run in three deployments: the memory store, Redis with one process, and Redis with two
    processes (visitors on one, counselors on the other, so every assignment crosses the bus).
    """
    k = settings.assign_counselors
    accounts.ensure(relay=0, assign=k)
    in_redis = RedisAccounts(settings, "assign", [(n, "assign") for n in accounts.assign_names(k)])
    result: dict[str, Any] = {
        "counselors": k,
        "hold_s": settings.assign_hold_s,
        "arrivals_per_s": round(k / settings.assign_hold_s * settings.assign_overload, 2),
        "duration_s": settings.assign_duration_s,
        "counselor_protocol": 2,
        "wait_limit_s": WAIT_LIMIT_S,
    }
    for key, store, processes in ASSIGN_DEPLOYMENTS:
        label = f"assignment-{key}"
        settings.log(f"  {store} store, {processes} process(es)")
        with contextlib.ExitStack() as stack:
            redis = stack.enter_context(in_redis.redis(label)) if store == "redis" else None
            servers = [
                _server(settings, accounts, "product", f"{label}-{p}", redis.url if redis else None)
                for p in range(processes)
            ]
            run = _assignment_run(settings, accounts, servers, redis, label)
        result[key] = {"store": store, "processes": processes, **run}
    return result


def _assignment_run(
    settings: Settings,
    accounts: Accounts,
    servers: list[Process],
    redis: RedisProcess | None,
    label: str,
) -> dict[str, Any]:
    k, hold = settings.assign_counselors, settings.assign_hold_s
    arrivals_per_s = k / hold * settings.assign_overload
    duration = settings.assign_duration_s
    offsets = [i / arrivals_per_s for i in range(int(arrivals_per_s * duration))]
    visitor_workers = max(1, settings.workers - 1)
    prefill = 2 * k
    counselor_spec = {
        "url": servers[-1].url,
        "compress": settings.compress,
        "helpline": "assign",
        "protocol": 2,
        "usernames": accounts.assign_names(k),
        "hold_s": hold,
        "seed": 1,
    }
    visitor_specs = [
        {
            "url": servers[0].url,
            "compress": settings.compress,
            "helpline": "assign",
            "prefill": prefill // visitor_workers,
            "offsets_s": part,
            "concurrency": 16,
        }
        for part in _split(offsets, visitor_workers)
    ]
    # Slots freed up to the end of the window are judged WAIT_LIMIT_S later.
    drain_s = WAIT_LIMIT_S + settings.quiet_s
    if settings.quiet_wait_s:
        wait_for_quiet(settings)
    counselors = Fleet("assign_counselors", [counselor_spec])
    visitors = Fleet("assign_visitors", visitor_specs)
    with running(servers, counselors, visitors):
        counselors.expect("ready", timeout=120)
        visitors.expect("ready", timeout=120)
        t0 = time.monotonic_ns() + int(settings.lead_s * 1e9)
        stop = t0 + int(duration * 1e9)
        go = {"t0": t0, "stop": stop, "drain_s": drain_s}
        counselors.send("go", go)
        visitors.send("go", go)
        _sleep_until(t0)
        spy = _profile(settings, servers[-1], label)
        before = _usage(servers, redis, counselors, visitors)
        _sleep_until(stop)
        after = _usage(servers, redis, counselors, visitors)
        counselor_done = counselors.expect("done", timeout=duration + 120)[0]
        profile = spy.stop() if spy else None
        visitor_done = visitors.expect("done", timeout=duration + 120)
        counselors.send("close")
        visitors.send("close")
        counselors.expect("closed", timeout=60)
        visitors.expect("closed", timeout=60)
    chats: dict[str, list[int]] = {}
    for d in visitor_done:
        chats.update(d["chats"])
    spent = {name: after[name].cpu_s - before[name].cpu_s for name in after}
    others = spent["machine"] - sum(v for name, v in spent.items() if name != "machine")
    result = {
        **assignment_figures(counselor_done["events"], chats, int(WAIT_LIMIT_S * 1e9)),
        # Offers the counselors confirmed with `accept` (protocol 2), warm-up included.
        "accepted": counselor_done["accepted"],
        "server_cpu_pct": round(spent["server"] / duration * 100, 1),
        "other_cpu_pct": round(max(0.0, others) / duration * 100, 1),
        "errors": _add_counts([counselor_done["errors"], *(d["errors"] for d in visitor_done)]),
    }
    if "redis" in spent:
        result["redis_cpu_pct"] = round(spent["redis"] / duration * 100, 1)
    if profile:
        result["profile"] = profile
    return result


def assignment_figures(
    events: dict[str, list[list[Any]]], chats: dict[str, list[int]], limit_ns: int
) -> dict[str, Any]:
    """What became of every slot a counselor freed.

    events: per counselor, ("assigned" | "freed", chat_id, t) in order; chats: per chat,
    [queued at, visitor's `assigned` at (0: never)]. A freed slot is refilled by the
    counselor's next `assigned`; its visitor's own `assigned` is the time that counts.

    - latencies: freed -> visitor's / counselor's `assigned`, for slots whose next visitor
      was already queued when the slot came free;
    - waited: slots freed while someone was waiting (more visitors queued and not yet told
      `assigned` than other slots freed in the last `limit_ns` still being refilled), where
      no visitor was told `assigned` for the slot within limit_ns;
    - unmatched: the counselor got an `assigned` whose visitor never did.
    """
    slots: list[tuple[int, int | None]] = []  # (freed at, refill's visitor assigned at)
    to_visitor, to_counselor, unmatched = [], [], 0
    for log in events.values():
        for i, (kind, _, freed_at) in enumerate(log):
            if kind != "freed":
                continue
            nxt = next((e for e in log[i + 1 :] if e[0] == "assigned"), None)
            times = chats.get(nxt[1]) if nxt is not None else None
            if nxt is not None and (times is None or not times[1]):
                unmatched += 1
            refilled = times[1] if times is not None and times[1] else None
            slots.append((freed_at, refilled))
            if nxt is None or times is None or refilled is None or times[0] >= freed_at:
                continue  # not refilled, or nobody was waiting when the slot came free
            to_visitor.append((refilled - freed_at) // 1000)
            to_counselor.append((nxt[2] - freed_at) // 1000)
    waited = 0
    for freed_at, refilled in slots:
        waiting = sum(1 for q, a in chats.values() if 0 < q < freed_at and not 0 < a <= freed_at)
        refilling = sum(
            1
            for other_freed, other_refilled in slots
            if freed_at - limit_ns < other_freed < freed_at
            and (other_refilled is None or other_refilled > freed_at)
        )
        if waiting > refilling and (refilled is None or refilled - freed_at > limit_ns):
            waited += 1
    return {
        "freed_slots": len(slots),
        "freed_slots_measured": len(to_visitor),
        "freed_to_visitor_assigned_ms": stats.latency_ms(to_visitor),
        "freed_to_counselor_assigned_ms": stats.latency_ms(to_counselor),
        "waited_with_free_slot": waited,
        "unmatched": unmatched,
    }


# --- 5. multi-process -------------------------------------------------------------------------


def run_multiprocess(settings: Settings, accounts: Accounts) -> dict[str, Any]:
    """The relay load on one Redis: one server process, then two (a fresh Redis for each)."""
    chats, rate, duration = settings.mp_chats, settings.mp_rate, settings.mp_duration_s
    counselors = settings.counselors_for(chats)
    runs = {}
    in_redis = RedisAccounts(
        settings, "mp", [(name, "bench") for name in accounts.relay_names(counselors)]
    )
    for processes in (1, 2):
        settings.log(f"  {processes} process(es) on Redis")
        with in_redis.redis(f"mp-{processes}") as redis:
            runs[processes] = run_relay(
                settings, accounts, "product", chats, rate, duration,
                label=f"mp{processes}", processes=processes, redis=redis,
            )  # fmt: skip
    one, two = runs[1], runs[2]
    return {
        "load": {"chats": chats, "rate_per_chat": rate, "duration_s": duration},
        "one": one,
        "two": two,
        "ratio": {
            "msgs_per_s": stats.ratio(two["msgs_per_s"], one["msgs_per_s"]),
            "v2c_p50": stats.ratio(
                two["latency_ms"]["v2c"]["p50"], one["latency_ms"]["v2c"]["p50"]
            ),
            "v2c_p99": stats.ratio(
                two["latency_ms"]["v2c"]["p99"], one["latency_ms"]["v2c"]["p99"]
            ),
            "server_cpu_per_msg": stats.ratio(
                two["server_cpu_per_msg_ms"], one["server_cpu_per_msg_ms"]
            ),
        },
        "note": (
            "2 cores: the server processes, redis-server and the load generator share them, "
            "so a second process cannot add a core of its own here"
        ),
    }


# --- 6. soak ---------------------------------------------------------------------------------


def run_soak(settings: Settings, accounts: Accounts) -> dict[str, Any]:
    """C chats for T minutes; every message must arrive exactly once and in order."""
    run = run_relay(
        settings, accounts, "product", settings.soak_chats, settings.soak_rate,
        settings.soak_minutes * 60, label="soak", drain_s=15.0,
    )  # fmt: skip
    delivery = run["delivery"]
    return {
        "chats": settings.soak_chats,
        "rate_per_chat": settings.soak_rate,
        "minutes": settings.soak_minutes,
        "messages": delivery["sent"],
        "lost": delivery["lost"],
        "dup": delivery["dup"],
        "reorder": delivery["reorder"],
        "unacked": run["unacked"],
        "errors": run["errors"],
        "lost_connections": run["lost_connections"],
        "latency_ms": run["latency_ms"],
        "server_rss_kib": run["server_rss_kib"],
    }


# --- helpers ------------------------------------------------------------------------------


def wait_for_quiet(settings: Settings) -> float:
    """Wait (up to settings.quiet_wait_s) until the machine is nearly idle; the busy share of
    one core seen last, in %."""
    deadline = time.monotonic() + settings.quiet_wait_s
    while True:
        before = machine_busy_s()
        time.sleep(0.5)
        busy_pct = (machine_busy_s() - before) / 0.5 * 100
        if busy_pct < settings.quiet_threshold_pct or time.monotonic() >= deadline:
            if busy_pct >= settings.quiet_threshold_pct and settings.quiet_wait_s > 0:
                settings.log(f"  the machine is busy ({busy_pct:.0f}% of a core); going on")
            return round(busy_pct, 1)
        time.sleep(2.0)


@contextlib.contextmanager
def running(servers: list[Process], *fleets: Fleet) -> Iterator[None]:
    """Servers and worker processes start side by side; the workers begin once the servers
    answer. On the way out the workers are closed first, then the servers stopped."""
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.callback(server.stop)
            server.launch()
        for fleet in fleets:
            stack.enter_context(fleet)
        for server in servers:
            server.wait_ready()
        for fleet in fleets:
            fleet.begin()
        yield


def _server(
    settings: Settings, accounts: Accounts, target: str, name: str, redis_url: str | None = None
) -> Process:
    workdir = settings.workdir / "logs"
    if target == "bare":
        return bare_relay(workdir, name)
    data_dir = accounts.data_dir(name) if redis_url is None else settings.workdir / "data" / name
    data_dir.mkdir(parents=True, exist_ok=True)
    return chatserver(workdir, name, data_dir, redis_url)


def _usage(servers: list[Process], redis: RedisProcess | None, *fleets: Fleet) -> dict[str, Usage]:
    parts = [s.usage() for s in servers]
    generators = [f.usage() for f in fleets]
    result = {
        "server": Usage(sum(u.cpu_s for u in parts), sum(u.rss_kib for u in parts)),
        "generator": Usage(sum(u.cpu_s for u in generators), sum(u.rss_kib for u in generators)),
    }
    if redis is not None:
        result["redis"] = redis.usage()
    result["machine"] = Usage(machine_busy_s(), 0)
    return result


def _sleep_until(at_ns: int) -> None:
    delay = (at_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        time.sleep(delay)


def _add_counts(counts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in counts:
        for key, value in part.items():
            total[key] = total.get(key, 0) + value
    return total


# --- profiling ------------------------------------------------------------------------------


class Profile:
    """py-spy sampling one server process (without pausing it) until stop()."""

    def __init__(self, settings: Settings, server: Process, label: str) -> None:
        self.out = settings.workdir / f"profile-{label}.txt"
        self.popen: subprocess.Popen[bytes] | None = None
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            settings.log("  py-spy is not installed (pip install -e '.[bench]'): no profile")
            return
        self.popen = subprocess.Popen(
            [
                spy, "record", "--pid", str(server.pid), "--rate", "200", "--format", "raw",
                "--nonblocking", "--output", str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> dict[str, Any] | None:
        if self.popen is None:
            return None
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.popen.kill()
        return summarize_profile(self.out)


def _profile(settings: Settings, server: Process, label: str) -> Profile | None:
    return Profile(settings, server, label) if settings.profile else None


def summarize_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive shares of the hottest frames in py-spy's raw (collapsed) output."""
    self_samples: dict[str, int] = {}
    total_samples: dict[str, int] = {}
    samples = 0
    if not path.exists():
        return {"file": str(path), "samples": 0}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        self_samples[frames[-1]] = self_samples.get(frames[-1], 0) + count
        for frame in set(frames):
            total_samples[frame] = total_samples.get(frame, 0) + count

    def ranked(table: dict[str, int]) -> list[list[Any]]:
        best = sorted(table.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [[frame, round(100 * n / max(1, samples), 1)] for frame, n in best]

    return {
        "file": str(path),
        "samples": samples,
        "self_pct": ranked(self_samples),
        "inclusive_pct": ranked(total_samples),
    }


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False)
