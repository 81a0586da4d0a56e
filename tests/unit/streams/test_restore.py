"""A restore's progress: offsets read and to go, the last minute's rate, the time left."""

from __future__ import annotations

import pytest

from ctxi.streams.restore import RestoreProgress


def test_nothing_is_reported_while_nothing_restores() -> None:
    assert RestoreProgress().observe(0.0, False, 0) is None


def test_progress_counts_what_was_read_and_estimates_from_the_rate() -> None:
    progress = RestoreProgress()
    first = progress.observe(100.0, True, 50_000)
    assert first is not None and first.read == 0 and first.per_second is None and first.seconds_left is None
    assert "time left not known yet" in first.line()
    report = progress.observe(105.0, True, 40_000)
    assert report is not None and report.read == 10_000 and report.per_second == 2_000
    assert report.seconds_left == 20 and report.seconds == 5
    assert report.line() == (
        "restoring tables: 10,000 changelog offsets read, 40,000 to go, 2,000 offsets/s, about 20s left "
        "(restoring for 5s; not ready until done)"
    )
    assert report.as_json()["seconds_left"] == 20.0


def test_the_rate_is_the_last_minutes_so_a_slow_start_does_not_spoil_the_estimate() -> None:
    progress = RestoreProgress()
    progress.observe(0.0, True, 1_000_000)
    progress.observe(60.0, True, 999_000)  # slow at first
    for second in range(65, 185, 5):
        report = progress.observe(float(second), True, 999_000 - (second - 60) * 5_000)
    assert report is not None and report.per_second == pytest.approx(5_000)


def test_partitions_a_rebalance_adds_are_to_read_not_read() -> None:
    progress = RestoreProgress()
    progress.observe(0.0, True, 1_000)
    progress.observe(5.0, True, 600)
    report = progress.observe(10.0, True, 5_600)  # new partitions: 5,000 more
    assert report is not None and report.read == 400 and report.remaining == 5_600
    report = progress.observe(15.0, True, 4_600)
    assert report is not None and report.read == 1_400 and report.per_second == 200  # since they came


def test_the_end_is_reported_once_with_the_whole_restores_rate() -> None:
    progress = RestoreProgress()
    progress.observe(0.0, True, 10_000)
    progress.observe(4.0, True, 2_000)
    done = progress.observe(5.0, False, 0)
    assert done is not None and not done.restoring and done.read == 10_000 and done.per_second == 2_000
    assert done.line() == "tables restored: 10,000 changelog offsets read in 5.0s (2,000 offsets/s)"
    assert progress.last == done and progress.observe(10.0, False, 0) is None
