"""The benchmarks still run: each in a tiny configuration, its output checked, no time asserted.

Speed is measured by running the scripts themselves (see docs/benchmarks.md); these only keep
them from rotting as the library changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent


def run(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_end_to_end_benchmark_runs() -> None:
    result = run(
        "bench_e2e.py", "--quick", "--json", "--events", "3000", "--repeats", "1", "--pings", "3"
    )
    assert result["events"] == 3000
    for key in ("events_per_s", "baseline_per_s", "batch_events_per_s", "round_trips_per_s"):
        assert result[key] > 0, key


def test_the_parser_benchmark_runs() -> None:
    result = run("bench_parser.py", "--quick", "--json", "--size-mb", "0.3", "--repeats", "1")
    assert result["corpus_messages"] > 0
    for key in ("routing_vs_naive", "typical_vs_naive", "full_vs_naive", "legacy_64k_vs_events"):
        assert result[key] > 0, key


def test_the_unthrottled_end_to_end_benchmark_runs() -> None:
    result = run("bench_e2e.py", "--unthrottled", "--json", "--events", "2000", "--repeats", "1")
    assert result["mode"] == "unthrottled"
    assert result["events"] == 2000
    (row,) = result["runs"]
    assert row["received_each"] + row["lost_each"] == 2000
    assert row["received_batch"] + row["lost_batch"] == 2000
    early = ("received_early", "lost_early_overflow", "lost_early_before_subscription")
    assert sum(row[key] for key in early) == 2000
    assert all(row[key] >= 0 for key in early)
    rates = ("each_per_s", "batch_per_s", "channel_per_s", "channel_inf_per_s")
    for key in (*rates, "naive_asyncio_per_s", "reader_per_s", "peak_tracemalloc_mb"):
        assert row[key] > 0, key
    for key in ("each_vs_channel", "each_vs_naive", "batch_vs_naive"):
        assert row[key] > 0, key
        assert result["median"][key] == row[key], key


def test_the_soak_runs() -> None:
    result = run("soak.py", "--quick", "--json")
    actions = result["actions"]
    assert actions["sent"] > 0 and actions["answered"] > 0
    assert actions["sent"] == actions["answered"] + actions["failed"]
    assert actions["duplicated"] == 0
    assert {row["kind"] for row in result["faults"]} == {"restart", "restart-fresh", "black-hole"}
    for fault in result["faults"]:
        if fault["kind"] == "black-hole":
            assert fault["detected_after_s"] is not None, fault
    assert result["server"]["restarts"] == 2
    assert result["reconnects"] == 4 and len(result["periods"]) == 5
    for period in result["periods"]:
        assert period["ticks_delivered"] > 0, period
        if period["ticks_sent"] is not None:
            assert period["ticks_delivered"] <= period["ticks_sent"], period
    for when in ("start", "end"):
        assert result["memory"][when]["tracemalloc_mb"] > 0
        assert result["memory"][when]["rss_mb"] > 0


def test_the_scaleout_benchmark_runs() -> None:
    result = run("bench_scaleout.py", "--quick", "--json", "--events", "600")
    assert result["events"] == 600
    assert result["handled"] == result["appended"] == result["duplicates"] == 600
    assert result["overflowed"] == 0
    for key in ("scaleout_per_s", "plain_per_s", "scaleout_vs_plain", "main_max_rss_mb"):
        assert result[key] > 0, key
    assert result["append_us_per_event_with_claim"] > 0
    assert set(result["processes"]) == {
        "collector-1", "collector-2", "worker-1", "worker-2", "worker-3"
    }  # fmt: skip
    assert all(figures["max_rss_mb"] > 0 for figures in result["processes"].values())
