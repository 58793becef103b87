"""The `chatserver` command as an operator uses it: check-config, run with a broken file, report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatserver.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_check_config_prints_next_openings_for_a_good_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check-config", "--config", str(ROOT / "config")]) == 0
    out = capsys.readouterr().out
    assert "helplines.toml: OK, 2 helplines" in out
    assert "stopitnow (Stop it Now):" in out
    assert "helpwanted (Helpwanted):" in out
    assert "next openings" in out or "open now" in out


BROKEN = """
timezone = "Europe/Amsterdam"

[[helpline]]
id = "stopitnow"
name = "Stop it Now"
max_queue = 25
last_admission_minutes = 10
max_chats_per_counselor = 2
[helpline.hours]
mon = ["10:00-17:00", "19:00-25:00"]
"""


@pytest.mark.parametrize("command", [["check-config"], ["run", "--port", "1"]])
def test_a_broken_file_stops_with_one_line_naming_file_helpline_field_and_problem(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "helplines.toml").write_text(BROKEN)
    result = subprocess.run(
        [sys.executable, "-m", "chatserver.cli", *command, "--config", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(tmp_path / "helplines.toml") in lines[0]
    assert "helpline 'stopitnow'" in lines[0]
    assert "hours.mon[1]" in lines[0]
    assert "19:00-25:00" in lines[0]


def test_a_missing_config_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_report_prints_csv_of_the_daily_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import date

    from chatserver.store.counts_file import CountsFile

    CountsFile(tmp_path).add("stopitnow", date(2026, 12, 1), {"requested": 3, "answered": 2})
    args = ["--config", str(ROOT / "config"), "--data-dir", str(tmp_path)]
    assert main(["report", *args, "--from", "2026-12-01", "--to", "2026-12-02"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("date,helpline,requested,answered,abandoned")
    assert lines[1].startswith("2026-12-01,stopitnow,3,2,0")
    assert len(lines) == 2


@pytest.mark.parametrize(
    ("secret", "problem"),
    [(None, "CHATSERVER_SECRET is not set"), ("too-short", "needs at least 32")],
)
def test_redis_mode_refuses_to_start_without_a_strong_secret(
    secret: str | None, problem: str
) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "CHATSERVER_SECRET"}
    if secret is not None:
        env["CHATSERVER_SECRET"] = secret
    result = subprocess.run(
        [sys.executable, "-m", "chatserver.cli", "run", "--config", str(ROOT / "config"),
         "--redis", "redis://127.0.0.1:1/0"],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_redis_urls_of_every_documented_kind_make_a_client() -> None:
    from redis.asyncio.connection import SSLConnection
    from redis.asyncio.sentinel import SentinelConnectionPool

    from chatserver.store.redis import connect

    plain = connect("redis://127.0.0.1:6379/0")
    assert plain.connection_pool.connection_kwargs["port"] == 6379
    tls = connect("rediss://cache.example:6380/1")
    assert tls.connection_pool.connection_class is SSLConnection
    sentinel = connect("redis+sentinel://s1:26379,s2:26380/0/helpline-master")
    assert isinstance(sentinel.connection_pool, SentinelConnectionPool)
    assert sentinel.connection_pool.service_name == "helpline-master"


def _two_years_of_counts(data_dir: Path) -> list[str]:
    from datetime import date

    from chatserver.store.counts_file import DEMAND_FILE_NAME, CountsFile

    counts = CountsFile(data_dir)
    counts.add("stopitnow", date(2025, 5, 1), {"answered": 4, "tally_phone": 4})
    counts.add("stopitnow", date(2026, 5, 1), {"answered": 6, "tally_phone": 4})
    counts.add("stopitnow", date(2026, 12, 1), {"tally_email": 2})
    CountsFile(data_dir, DEMAND_FILE_NAME).add("stopitnow", "2026-05", {"closed:4:21": 3})
    return ["--config", str(ROOT / "config"), "--data-dir", str(data_dir)]


def test_report_year_prints_the_year_report_as_csv_json_and_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import io
    import json

    args = _two_years_of_counts(tmp_path)
    assert main(["report", *args, "--year", "2026", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    stopitnow = next(h for h in report["helplines"] if h["id"] == "stopitnow")
    assert stopitnow["channels"]["total"] == {"count": 12, "previous": 8, "growth": 0.5}

    assert main(["report", *args, "--year", "2026"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    total = next(r for r in rows if r["helpline"] == "stopitnow" and r["channel"] == "total")
    assert (total["count"], total["previous"], total["growth"]) == ("12", "8", "0.5")
    assert (total["2026-05"], total["2026-12"]) == ("10", "2")

    assert main(["report", *args, "--year", "2026", "--format", "text"]) == 0
    text = capsys.readouterr().out
    assert "Year report 2026 (growth against 2025)" in text
    assert any("contacts" in line and "+50.0%" in line for line in text.splitlines())


def test_report_demand_prints_the_hour_of_week_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import io

    args = _two_years_of_counts(tmp_path)
    assert main(["report", *args, "--year", "2026", "--demand", "--helpline", "stopitnow"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    friday = next(r for r in rows if r["state"] == "closed" and r["weekday"] == "4")
    assert friday["h21"] == "3" and friday["helpline"] == "stopitnow"
    assert main(["report", *args, "--demand", "--helpline", "nope"]) == 2
