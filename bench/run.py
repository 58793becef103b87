"""`python -m bench`: run the scenarios, print a summary table, write bench/results/latest.json.

python -m bench                      quick version of all six scenarios (< 3 minutes)
python -m bench --full               the target loads: 10,000 visitors, 5 repeats, sweep,
                                     10-minute soak
python -m bench --scenario relay --chats 400 --rate 2 --duration 20
python -m bench --smoke --output /tmp/smoke.json     toy size, for the test suite
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.scenarios import Accounts, Settings
from bench.server_process import ROOT
from bench.stats import fmt, table

SCENARIOS = ("idle", "relay", "baseline", "assignment", "multiprocess", "soak")
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "latest.json"

# Goals from issue 4 (checked here, never by timed unit tests).
CPU_RATIO_GOAL = 1.0
P50_RATIO_GOAL = 1.5
P99_GOAL_MS = 25.0
MEMORY_RATIO_GOAL = 1.1
ASSIGNMENT_P99_GOAL_MS = 50.0

MODES: dict[str, dict[str, Any]] = {
    "smoke": {
        "visitors": 20, "warm_visitors": 4, "chats": 4, "rate": 2.0, "duration_s": 1.0,
        "chats_per_counselor": 2, "assign_counselors": 2, "assign_hold_s": 0.3,
        "assign_duration_s": 1.5, "mp_chats": 4, "mp_duration_s": 1.0, "soak_chats": 4,
        "soak_minutes": 0.04, "repeats": 1, "sweep": [], "settle_s": 0.2, "lead_s": 0.2,
        "quiet_s": 0.2, "idle_no_deflate": False,
    },
    "quick": {},
    "full": {
        "visitors": 10_000, "warm_visitors": 200, "chats": 200, "rate": 2.0, "duration_s": 20.0,
        "repeats": 5, "sweep": [200, 300, 400, 500, 600, 800, 1000, 1200, 1500],
        "sweep_duration_s": 15.0, "assign_counselors": 20, "assign_duration_s": 60.0,
        "mp_chats": 200, "mp_duration_s": 20.0, "soak_chats": 200, "soak_minutes": 10.0,
        "quiet_wait_s": 120.0,
    },
}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the chatserver side by side with a bare python-socketio relay.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--full",
        action="store_const",
        dest="mode",
        const="full",
        help="the target loads (10,000 visitors, 5 repeats, sweep, 10 min soak)",
    )
    mode.add_argument(
        "--smoke",
        action="store_const",
        dest="mode",
        const="smoke",
        help="toy size, seconds per scenario (used by the test suite)",
    )
    parser.set_defaults(mode="quick")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        metavar="NAME",
        help=f"run only these ({', '.join(SCENARIOS)}); repeatable",
    )
    parser.add_argument("--visitors", type=int, help="idle: queued visitors")
    parser.add_argument("--chats", type=int, help="relay/baseline: concurrent chats")
    parser.add_argument("--rate", type=float, help="relay/baseline: messages/s per visitor")
    parser.add_argument("--duration", type=float, help="relay/baseline: measured seconds")
    parser.add_argument("--repeats", type=int, help="relay/baseline: runs (medians reported)")
    parser.add_argument(
        "--sweep",
        type=lambda s: [int(x) for x in s.split(",") if x],
        metavar="C1,C2,...",
        help="chat counts for the p99 sweep ('' = none)",
    )
    parser.add_argument("--chats-per-counselor", type=int)
    parser.add_argument("--mp-chats", type=int, help="multiprocess: concurrent chats")
    parser.add_argument("--mp-rate", type=float, help="multiprocess: messages/s per visitor")
    parser.add_argument(
        "--relay-protocol",
        type=int,
        choices=(1, 2),
        help="relay/baseline/multiprocess/soak counselors' protocol (default 1; assignment: 2)",
    )
    parser.add_argument("--soak-minutes", type=float)
    parser.add_argument("--soak-chats", type=int)
    parser.add_argument("--workers", type=int, help="load generator processes (default 2)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        metavar="SECONDS",
        help="before each run, wait up to this long for other processes to go quiet",
    )
    parser.add_argument(
        "--no-compress",
        dest="compress",
        action="store_false",
        help="do not offer permessage-deflate (browsers do)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy one extra product relay run and summarize its hot frames",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--workdir", type=Path, help="keep server logs and data here")
    return parser  # fmt: skip


def settings_from(args: argparse.Namespace, workdir: Path) -> Settings:
    settings = Settings(workdir=workdir, compress=args.compress)
    for key, value in MODES[args.mode].items():
        setattr(settings, key, value)
    overrides = {
        "visitors": args.visitors,
        "chats": args.chats,
        "rate": args.rate,
        "duration_s": args.duration,
        "repeats": args.repeats,
        "sweep": args.sweep,
        "chats_per_counselor": args.chats_per_counselor,
        "mp_chats": args.mp_chats,
        "mp_rate": args.mp_rate,
        "relay_protocol": args.relay_protocol,
        "soak_minutes": args.soak_minutes,
        "soak_chats": args.soak_chats,
        "workers": args.workers,
        "quiet_wait_s": args.wait_quiet,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(settings, key, value)
    settings.warm_visitors = min(settings.warm_visitors, max(1, settings.visitors // 10))
    settings.profile = args.profile
    return settings


def run(settings: Settings, selected: tuple[str, ...]) -> dict[str, Any]:
    log = settings.log
    accounts = Accounts(settings)
    relay_scenarios = {"relay", "baseline", "soak"} & set(selected)
    relay_chats = max(
        [settings.chats] * bool({"relay", "baseline"} & set(selected))
        + [settings.soak_chats] * ("soak" in selected)
        + settings.sweep * ("baseline" in selected)
        + [0]
    )
    accounts.ensure(
        relay=settings.counselors_for(relay_chats) if relay_scenarios else 0,
        assign=settings.assign_counselors if "assignment" in selected else 0,
    )
    results: dict[str, Any] = {}

    def timed(name: str) -> float:
        log(f"[{name}]")
        return time.monotonic()

    if "idle" in selected:
        started = timed("idle")
        product = scenarios.run_idle(settings, accounts, "product")
        bare = scenarios.run_idle(settings, accounts, "bare")
        idle: dict[str, Any] = {"product": product, "bare": bare}
        # A browser offers permessage-deflate and aiohttp accepts it by default: zlib state
        # per connection. The reference figure (about 33 KiB) is without it.
        plain = bare
        if settings.compress and settings.idle_no_deflate:
            plain = scenarios.run_idle(settings, accounts, "bare", compress=False)
        idle["bare_no_deflate"] = plain
        idle["ratio"] = {
            "rss_per_visitor": _ratio(product["rss_per_visitor_kib"], bare["rss_per_visitor_kib"]),
            "rss_per_visitor_vs_no_deflate": _ratio(
                product["rss_per_visitor_kib"], plain["rss_per_visitor_kib"]
            ),
            "connect_rate": _ratio(product["connect_rate_per_s"], bare["connect_rate_per_s"]),
        }
        idle["seconds"] = round(time.monotonic() - started, 1)
        results["idle"] = idle
        log(idle_table(results["idle"]))
    if "relay" in selected or "baseline" in selected:
        started = timed("relay + baseline" if "baseline" in selected else "relay")
        relay, baseline = scenarios.run_relay_pair(settings, accounts, "baseline" in selected)
        relay["seconds"] = round(time.monotonic() - started, 1)
        results["relay"] = relay
        if baseline is not None:
            results["baseline"] = baseline
        log(relay_table(results))
    if "assignment" in selected:
        started = timed("assignment")
        results["assignment"] = scenarios.run_assignment(settings, accounts)
        results["assignment"]["seconds"] = round(time.monotonic() - started, 1)
        log(assignment_table(results["assignment"]))
    if "multiprocess" in selected:
        started = timed("multiprocess")
        results["multiprocess"] = scenarios.run_multiprocess(settings, accounts)
        results["multiprocess"]["seconds"] = round(time.monotonic() - started, 1)
        log(multiprocess_table(results["multiprocess"]))
    if "soak" in selected:
        started = timed("soak")
        results["soak"] = scenarios.run_soak(settings, accounts)
        results["soak"]["seconds"] = round(time.monotonic() - started, 1)
        soak = results["soak"]
        log(f"soak: {soak['messages']:,} messages  lost={soak['lost']} dup={soak['dup']} "
            f"reorder={soak['reorder']}")  # fmt: skip
        dropped = {role: n for role, n in soak["lost_connections"].items() if n}
        if dropped:
            log(f"soak: connections lost during the run (not reconnected): {dropped}")
    return results


def _ratio(a: float | None, b: float | None) -> float | None:
    from bench.stats import ratio

    return ratio(a, b)


# --- tables -------------------------------------------------------------------------------


def idle_table(idle: dict[str, Any]) -> str:
    p, b, nd = idle["product"], idle["bare"], idle["bare_no_deflate"]
    r = idle["ratio"]

    def row(name: str, key: str, ratio: float | None = None) -> list[Any]:
        return [name, p[key], b[key], nd[key], ratio]

    rows = [
        row("visitors connected", "queued"),
        row("RSS per visitor (KiB)", "rss_per_visitor_kib", r["rss_per_visitor_vs_no_deflate"]),
        row("server CPU per visitor (ms)", "cpu_per_visitor_ms"),
        row("connect rate (/s)", "connect_rate_per_s", r["connect_rate"]),
        row("all have a position (s)", "all_positioned_s"),
        row("load generator CPU (%)", "generator_cpu_pct"),
    ]
    headers = ["idle", "product", "bare", "bare, no deflate", "ratio"]
    return table(headers, rows) + (
        "\nratio: RSS against the bare relay without deflate (the stricter one; with deflate "
        f"{fmt(r['rss_per_visitor'])}), connect rate against the bare relay"
    )


def relay_table(results: dict[str, Any]) -> str:
    p = results["relay"]["summary"]
    baseline = results.get("baseline")
    b = baseline["summary"] if baseline else {}
    r = baseline["ratio"] if baseline else {}
    rows = [
        ["messages/s", p["msgs_per_s"], b.get("msgs_per_s"), r.get("msgs_per_s")],
        ["v->c p50 (ms)", p["v2c_p50_ms"], b.get("v2c_p50_ms"), r.get("v2c_p50")],
        ["v->c p95 (ms)", p["v2c_p95_ms"], b.get("v2c_p95_ms"), None],
        ["v->c p99 (ms)", p["v2c_p99_ms"], b.get("v2c_p99_ms"), r.get("v2c_p99")],
        ["c->v p50 (ms)", p["c2v_p50_ms"], b.get("c2v_p50_ms"), None],
        ["c->v p95 (ms)", p["c2v_p95_ms"], b.get("c2v_p95_ms"), None],
        ["c->v p99 (ms)", p["c2v_p99_ms"], b.get("c2v_p99_ms"), r.get("c2v_p99")],
        ["server CPU (%)", p["server_cpu_pct"], b.get("server_cpu_pct"), None],
        ["server CPU per message (ms)", p["server_cpu_per_msg_ms"],
         b.get("server_cpu_per_msg_ms"), r.get("server_cpu_per_msg")],
        ["load generator CPU (%)", p["generator_cpu_pct"], b.get("generator_cpu_pct"), None],
        ["other processes' CPU (%)", p["other_cpu_pct"], b.get("other_cpu_pct"), None],
    ]  # fmt: skip
    load = results["relay"]["load"]
    title = (
        f"relay: {load['chats']} chats x {load['rate_per_chat']:g} msg/s, medians of {p['runs']}"
    )
    lines = [title, table(["", "product", "bare", "ratio"], rows)]
    lines[-1] += _noise(max(p["other_cpu_pct"] or 0, b.get("other_cpu_pct") or 0))
    sweep = baseline.get("sweep") if baseline else None
    if sweep:
        lines.append(
            f"sweep: highest messages/s with v->c p99 < {sweep['p99_limit_ms']:g} ms: "
            f"product {fmt(sweep['product']['max_msgs_per_s_under_limit'])}, "
            f"bare {fmt(sweep['bare']['max_msgs_per_s_under_limit'])}, ratio {fmt(sweep['ratio'])}"
        )
    return "\n".join(lines)


ASSIGN_COLUMNS = {
    "memory": "memory",
    "redis_1": "Redis, 1 process",
    "redis_2": "Redis, 2 processes",
}


def assignment_table(a: dict[str, Any]) -> str:
    runs = [a[key] for key in ASSIGN_COLUMNS]

    def row(name: str, get: Any) -> list[Any]:
        return [name, *(get(r) for r in runs)]

    def visitor(r: dict[str, Any]) -> dict[str, Any]:
        return dict(r["freed_to_visitor_assigned_ms"])

    def counselor(r: dict[str, Any]) -> dict[str, Any]:
        return dict(r["freed_to_counselor_assigned_ms"])

    rows = [
        row("freed slots (with a visitor queued)", lambda r: r["freed_slots_measured"]),
        row("freed -> visitor's assigned p50 (ms)", lambda r: visitor(r)["p50"]),
        row("freed -> visitor's assigned p95 (ms)", lambda r: visitor(r)["p95"]),
        row("freed -> visitor's assigned p99 (ms)", lambda r: visitor(r)["p99"]),
        row("freed -> visitor's assigned max (ms)", lambda r: visitor(r)["max"]),
        row("freed -> counselor's offer p50 (ms)", lambda r: counselor(r)["p50"]),
        row("freed -> counselor's offer p99 (ms)", lambda r: counselor(r)["p99"]),
        row(f"waited with a free slot (> {a['wait_limit_s']:g} s)",
            lambda r: r["waited_with_free_slot"]),
        row("unmatched (counselor offered, visitor never told)", lambda r: r["unmatched"]),
        row("errors", lambda r: sum(r["errors"].values())),
        row("server CPU (%, all processes)", lambda r: r["server_cpu_pct"]),
        row("redis CPU (%)", lambda r: r.get("redis_cpu_pct")),
        row("other processes' CPU (%)", lambda r: r["other_cpu_pct"]),
    ]  # fmt: skip
    title = (
        f"assignment: {a['counselors']} counselors x 1 chat (protocol {a['counselor_protocol']}),"
        f" {a['arrivals_per_s']:g} arrivals/s, {a['duration_s']:g} s per deployment"
    )
    body = table(["", *ASSIGN_COLUMNS.values()], rows)
    return title + "\n" + body + _noise(max(r["other_cpu_pct"] for r in runs))


def multiprocess_table(m: dict[str, Any]) -> str:
    one, two, r = m["one"], m["two"], m["ratio"]
    rows = [
        ["messages/s", one["msgs_per_s"], two["msgs_per_s"], r["msgs_per_s"]],
        ["v->c p50 (ms)", one["latency_ms"]["v2c"]["p50"], two["latency_ms"]["v2c"]["p50"],
         r["v2c_p50"]],
        ["v->c p99 (ms)", one["latency_ms"]["v2c"]["p99"], two["latency_ms"]["v2c"]["p99"],
         r["v2c_p99"]],
        ["server CPU (%, all processes)", one["server_cpu_pct"], two["server_cpu_pct"], None],
        ["server CPU per message (ms)", one["server_cpu_per_msg_ms"],
         two["server_cpu_per_msg_ms"], r["server_cpu_per_msg"]],
        ["redis CPU (%)", one.get("redis_cpu_pct"), two.get("redis_cpu_pct"), None],
    ]  # fmt: skip
    return table(["multi-process (Redis)", "1 process", "2 processes", "2/1"], rows) + (
        f"\nnote: {m['note']}"
    )


NOISY_PCT = 25.0


def _noise(other_cpu_pct: float | None) -> str:
    if other_cpu_pct is None or other_cpu_pct < NOISY_PCT:
        return ""
    return (
        f"\nNOISY: other processes on this machine used {other_cpu_pct:g}% of a core during the "
        "measured window; latency figures are not to be trusted (see --wait-quiet)"
    )


# --- targets ------------------------------------------------------------------------------


def targets(results: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
    """Where we stand against the goals of issue 4, from this run's figures."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: Any, goal: str, met: bool | None, note: str = "") -> None:
        rows.append({"target": name, "value": value, "goal": goal, "met": met, "note": note})

    baseline = results.get("baseline")
    if baseline:
        cpu = baseline["ratio"]["server_cpu_per_msg"]
        add("server CPU per relayed message vs bare", cpu, f"<= {CPU_RATIO_GOAL}x",
            None if cpu is None else cpu <= CPU_RATIO_GOAL)  # fmt: skip
        load = f"{settings.chats} chats x {settings.rate:g}/s"
        target_load = settings.chats == 200 and settings.rate == 2.0
        note = "" if target_load else f"measured at {load}, not the target 200 x 2/s"
        p50 = baseline["ratio"]["v2c_p50"]
        add("v->c p50 vs bare", p50, f"<= {P50_RATIO_GOAL}x",
            None if p50 is None else p50 <= P50_RATIO_GOAL, note)  # fmt: skip
        p99 = results["relay"]["summary"]["v2c_p99_ms"]
        runs = results["relay"]["summary"]["runs"]
        others = max(
            results["relay"]["summary"]["other_cpu_pct"] or 0,
            baseline["summary"]["other_cpu_pct"] or 0,
        )
        if others >= NOISY_PCT:
            note = f"{note}; " if note else ""
            note += f"noisy: other processes used {others:g}% of a core"
        add(f"v->c p99 (median of {runs})", p99, f"< {P99_GOAL_MS:g} ms",
            None if p99 is None else p99 < P99_GOAL_MS, note)  # fmt: skip
        sweep = baseline.get("sweep")
        if sweep:
            add("highest rate with p99 < 25 ms vs bare", sweep["ratio"], "report", None)
    idle = results.get("idle")
    if idle:
        mem = idle["ratio"]["rss_per_visitor_vs_no_deflate"]
        n = idle["product"]["queued"]
        deflate = idle["bare_no_deflate"]["deflate_offered"]
        note = "against the bare relay " + ("with deflate" if deflate else "without deflate")
        if n < 10_000:
            note += f"; {n:,} visitors, not 10,000"
        add("memory per queued visitor vs bare", mem, f"<= {MEMORY_RATIO_GOAL}x",
            None if mem is None else mem <= MEMORY_RATIO_GOAL, note)  # fmt: skip
    assignment = results.get("assignment")
    if assignment:
        for key, column in ASSIGN_COLUMNS.items():
            run = assignment[key]
            p99 = run["freed_to_visitor_assigned_ms"]["p99"]
            note = f"{run['freed_slots_measured']:,} freed slots"
            add(f"assignment p99, {column}", p99, f"< {ASSIGNMENT_P99_GOAL_MS:g} ms",
                None if p99 is None else p99 < ASSIGNMENT_P99_GOAL_MS, note)  # fmt: skip
            waited, unmatched = run["waited_with_free_slot"], run["unmatched"]
            add(f"waited with a free slot / unmatched, {column}", f"{waited}/{unmatched}",
                "0/0", waited == unmatched == 0,
                f"no visitor told assigned within {assignment['wait_limit_s']:g} s")  # fmt: skip
    soak = results.get("soak")
    if soak:
        clean = soak["lost"] == soak["dup"] == soak["reorder"] == 0
        add("soak lost/dup/reorder", f"{soak['lost']}/{soak['dup']}/{soak['reorder']}", "0/0/0",
            clean, f"{soak['messages']:,} messages in {soak['minutes']:g} min")  # fmt: skip
    return rows


def targets_table(rows: list[dict[str, Any]]) -> str:
    return table(
        ["target", "measured", "goal", "met", "note"],
        [[r["target"], r["value"], r["goal"], r["met"], r["note"]] for r in rows],
    )


def machine() -> dict[str, Any]:
    memory_kib = 0
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    cpu_model = ""
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {
            name: version(name)
            for name in ("python-socketio", "python-engineio", "aiohttp", "uvloop", "orjson")
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    selected = tuple(args.scenario or SCENARIOS)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chatserver-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        settings = settings_from(args, workdir)
        settings.log = lambda line: print(line, flush=True)
        results = run(settings, selected)
    goals = targets(results, settings)
    report: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "mode": args.mode,
            "scenarios": list(selected),
            "settings": {k: v for k, v in vars(settings).items() if k not in ("workdir", "log")},
            "machine": machine(),
            "seconds": round(time.monotonic() - started, 1),
        },
        "targets": goals,
        "scenarios": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(targets_table(goals))
    print(f"\n{len(selected)} scenario(s) in {report['meta']['seconds']:g} s; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
