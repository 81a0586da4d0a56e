"""The workers' app talks to Kafka through ctxi's transport (the rewind itself: tests/integration/test_transport.py)."""

from __future__ import annotations

import pytest
from faust.serializers import codecs
from faust.transport import by_url
from faust.types import TP

from ctxi.agents.codecs import register_codecs
from ctxi.settings import Settings
from ctxi.streams import transport
from ctxi.streams.app import create_app
from ctxi.streams.codecs import TASK_CODEC
from ctxi.streams.faust_fixes.read_offsets import ReadOffsets

register_codecs()  # what a worker's build does before its app


def test_an_app_is_refused_while_a_codec_its_topics_name_is_not_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(codecs.codecs, TASK_CODEC)
    with pytest.raises(RuntimeError, match="faust codecs not registered: ctxi_task"):
        create_app(Settings())


def test_the_app_brokers_resolve_to_the_ctxi_transport() -> None:
    app = create_app(Settings())
    for url in [*app.conf.broker_consumer, *app.conf.broker_producer]:
        assert url.scheme == transport.SCHEME
        assert by_url(url) is transport.Transport


TP0 = TP("ctxi-input-crm", 0)


class Generation:
    """The app's consumer generation, moved by a rebalance."""

    def __init__(self) -> None:
        self.id = 1

    def __call__(self) -> int:
        return self.id


def read_offsets_at(offset: int) -> tuple[ReadOffsets, Generation]:
    generation = Generation()
    offsets = ReadOffsets(generation)
    offsets.handed_on_generation = generation.id
    offsets[TP0] = offset
    return offsets, generation


def test_the_fetch_loop_moves_the_read_offset_of_a_record_of_this_generation() -> None:
    offsets, _ = read_offsets_at(7)
    assert offsets[TP0] == 7
    assert offsets[TP("ctxi-input-crm", 1)] is None  # nothing read yet


def test_a_late_write_after_revocation_is_ignored_until_the_partition_is_sought() -> None:
    offsets, generation = read_offsets_at(7)
    offsets.revoke([TP0])
    offsets.pop(TP0)  # faust forgets a revoked partition's read offset
    offsets[TP0] = 9  # the fetch loop, woken by the stopped flow, writes where it was
    assert offsets[TP0] is None
    generation.id = 2
    offsets.update({TP0: 4})  # faust's seek to the committed offsets
    offsets.handed_on_generation = 2
    offsets[TP0] = 4
    offsets[TP0] = 5
    assert offsets[TP0] == 5


def test_a_record_of_an_earlier_generation_does_not_move_the_read_offset() -> None:
    offsets, generation = read_offsets_at(7)
    generation.id = 2
    offsets.seek(TP0, 3)
    offsets[TP0] = 9  # handed on in generation 1, written after the rebalance
    assert offsets[TP0] == 3


async def test_a_gap_stops_before_the_record_that_ends_it_so_the_commit_covers_every_event_done() -> None:
    app = create_app(Settings())
    consumer = app.consumer  # not started: the offset bookkeeping needs no broker
    tp = TP(app.conf.id + "-gap", 1)
    consumer._committed_offset[tp] = 94
    await consumer._add_gap(tp, 94, 95)  # the fetch loop read 93, then 95: 94 was a transaction marker
    consumer._acked[tp].extend([95, 96, 97])
    assert consumer._new_offset(tp) == 98  # faust's own gap (94-95) counted 95 twice and stopped at 96


async def test_gaps_cost_the_same_however_many_came_before() -> None:
    """A compacted changelog has a gap between most records; faust merged them all again at each
    new one, and a restart at 200,000 customers never finished reading its changelog."""
    import time

    app = create_app(Settings())
    consumer = app.consumer
    tp = TP(app.conf.id + "-changelog", 0)
    tenths, per_tenth = [], 2_000
    for tenth in range(10):
        started = time.perf_counter()
        for n in range(tenth * per_tenth, (tenth + 1) * per_tenth):
            await consumer._add_gap(tp, 3 * n + 1, 3 * n + 3)  # records at 3n and 3n + 3: 3n + 1, 3n + 2 compacted away
        tenths.append(time.perf_counter() - started)
    assert tenths[0] / tenths[-1] >= 0.5, [round(t, 3) for t in tenths]  # the last tenth as fast, or nearly
    gaps = sorted((interval.begin, interval.end) for interval in consumer._gap[tp])
    assert gaps[:2] == [(1, 3), (4, 6)] and len(gaps) == 10 * per_tenth  # each gap kept apart, nothing lost
    await consumer._add_gap(tp, 2, 7)  # 2-6: with those it overlaps or touches, one gap (1-8)
    assert sorted((i.begin, i.end) for i in consumer._gap[tp])[:2] == [(1, 9), (10, 12)]
    consumer._acked[tp].extend([0, 9])
    assert consumer._new_offset(tp) == 10  # 0 and 9 done, 1-8 never to come: the commit goes past them
