"""The stall detector flags a partition with a backlog whose position stands still."""

from __future__ import annotations

from ctxi.streams.stalls import StallDetector

TP = ("events.crm", 0)


def test_a_standing_position_with_a_backlog_is_a_stall_after_the_threshold() -> None:
    detector = StallDetector(stall_after_seconds=60)
    assert not detector.observe(TP, highwater=100, position=40, now=0)
    assert not detector.observe(TP, highwater=120, position=40, now=59)
    assert detector.observe(TP, highwater=130, position=40, now=60)


def test_progress_or_an_empty_backlog_is_no_stall() -> None:
    detector = StallDetector(stall_after_seconds=60)
    detector.observe(TP, highwater=100, position=40, now=0)
    assert not detector.observe(TP, highwater=100, position=41, now=100)  # it moved: the clock restarts
    assert not detector.observe(TP, highwater=100, position=41, now=150)
    assert not detector.observe(TP, highwater=41, position=41, now=1000)  # caught up: idle, not stalled


def test_partitions_that_left_are_forgotten() -> None:
    detector = StallDetector(stall_after_seconds=1)
    detector.observe(TP, highwater=10, position=1, now=0)
    detector.forget(set())
    assert not detector.observe(TP, highwater=10, position=1, now=5)  # seen anew
