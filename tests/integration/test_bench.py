"""The small version of ``ctxi bench`` on the real broker and Redis: every figure is produced
and the decision-quality report passes. Timings are written down, never asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson


def test_bench_writes_its_figures_and_passes_on_decision_quality(
    kafka_bootstrap_servers: str, redis_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "bench"
    env = {**os.environ, "CTXI_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers, "CTXI_REDIS_URL": redis_url}
    command = ["bench", "--customers", "150", "--rates", "50", "--seconds-per-rate", "3", "--repeats", "1"]
    command += ["--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "ctxi.cli", *command], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = orjson.loads((out / "results.json").read_bytes())
    assert results["ctxi_events_per_second"] > 0 and results["ceiling_events_per_second"] > 0
    assert results["client_events_per_second"] > 0
    assert results["peer_events_per_second"] > 0  # scripts/setup made .venv-peer: the Quix Streams peer ran
    [ctxi] = results["ctxi_runs"]
    assert ctxi["cpu_us_per_event"] > 0 and ctxi["changelog_bytes_per_event"] > 0
    assert all(run["cpu_us_per_event"] > 0 for run in (*results["ceiling_runs"], *results["client_runs"]))
    assert all(rate > 0 for rate in results["engine_events_per_second"])
    at_least_once, exactly_once = results["runs"]  # --rates 50: one run each, exactly-once at the same rate
    for run, guarantee in ((at_least_once, "at_least_once"), (exactly_once, "exactly_once")):
        assert run["guarantee"] == guarantee and run["offered"] == 50
        assert run["tasks"] > 0 and run["p99_ms"] is not None and run["peak_rss_mb"] > 0 and run["samples"]
    assert (out / "latency.png").stat().st_size > 10_000
    assert "replay" in (out / "profile.txt").read_text().lower()
    report = (out / "report.md").read_text()
    assert "| ctxi / ceiling |" in report and "| ctxi / client ceiling |" in report and "| ctxi / peer |" in report
    assert "| exactly-once | 50 |" in report
    assert "identical: the same tasks" in report
    assert "**FAIL**" not in report
