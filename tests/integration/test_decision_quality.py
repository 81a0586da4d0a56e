"""The small version of the decision-quality report, on a real worker: `ctxi evaluate --live`.

It fails on a regression of decision quality (a situation under 0.95 precision or recall,
dead letters off, replay and live apart), never on timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_replay_and_a_live_worker_decide_the_same_and_right(
    kafka_bootstrap_servers: str, redis_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "CTXI_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers, "CTXI_REDIS_URL": redis_url}
    stream = tmp_path / "small.jsonl"
    subprocess.run(
        [sys.executable, "-m", "ctxi.cli", "simulate", "--out", str(stream), "--customers", "120", "--seed", "5"],
        env=env,
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "-m", "ctxi.cli", "evaluate", str(stream), "--live", "--timeout", "120"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "identical: the same tasks" in result.stdout
    assert result.stdout.count("| ok |") >= 2 * 12  # every row of both tables
