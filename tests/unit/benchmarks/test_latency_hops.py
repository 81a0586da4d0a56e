import pytest

from ctxi.benchmarks.latency_hops import ways


def test_a_task_s_way_is_cut_at_its_own_record():
    found = ways(sent_at={"e1": 10.000}, tasks={"t1": (10.050, "e1")}, added={"t1": 10.056})
    [way] = found
    assert (way.task_id, way.event_id, way.sent_at) == ("t1", "e1", 10.0)
    assert way.hops == pytest.approx({"decide": 50, "deliver": 6, "total": 56})


def test_a_task_missing_a_point_is_left_out():
    found = ways(
        sent_at={"e1": 1.0},  # e2 was sent before the run
        tasks={"t1": (1.2, "e1"), "t2": (0.6, "e2"), "t3": (1.3, "e1")},
        added={"t1": 1.3, "t2": 0.7},  # t3 never announced
    )
    assert [way.task_id for way in found] == ["t1"]
