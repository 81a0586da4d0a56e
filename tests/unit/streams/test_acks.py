"""Stores wait for their message's deliveries and for the store before them; a message is
finished only once its store's changelog records are on the broker."""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP

from ctxi.streams.acks import StoresInOrder, _ack_when_done, aborted_partitions


def pending(count: int) -> list[asyncio.Future[None]]:
    loop = asyncio.get_running_loop()
    return [loop.create_future() for _ in range(count)]


async def test_stores_happen_in_decision_order_whatever_order_the_broker_answers_in() -> None:
    first_sent, second_sent = pending(2)
    stored: list[str] = []
    stores = StoresInOrder()
    first = stores.after([first_sent], lambda: stored.append("first") or [])
    second = stores.after([second_sent], lambda: stored.append("second") or [])
    second_sent.set_result(None)  # the second message's outputs are on the broker first
    await asyncio.sleep(0.01)
    assert stored == []  # its store waits for the first one
    first_sent.set_result(None)
    await asyncio.gather(first, second)
    assert stored == ["first", "second"]


async def test_a_message_is_finished_once_its_changelog_records_are_on_the_broker() -> None:
    first_record, second_record = pending(2)
    stored: list[str] = []
    stores = StoresInOrder()
    first = stores.after([], lambda: stored.append("first") or [first_record])
    second = stores.after([], lambda: stored.append("second") or [second_record])
    await asyncio.sleep(0.01)
    assert stored == ["first", "second"]  # the second store did not wait for the first record
    assert not first.done() and not second.done()  # neither message may be acknowledged yet
    second_record.set_result(None)
    await asyncio.sleep(0.01)
    assert second.done() and not first.done()
    first_record.set_result(None)
    await first


async def test_a_failed_delivery_stores_nothing_after_it() -> None:
    failed, sent = pending(2)
    stored: list[str] = []
    stores = StoresInOrder()
    first = stores.after([failed], lambda: stored.append("first") or [])
    second = stores.after([sent], lambda: stored.append("second") or [])
    failed.set_exception(ConnectionError("broker gone"))
    sent.set_result(None)
    for store in (first, second):
        with pytest.raises(ConnectionError):
            await store
    assert stored == []


class AckedStream:
    """What ``_ack_when_done`` uses of a faust stream: its acknowledgements."""

    def __init__(self) -> None:
        self.acked: list[object] = []

    async def ack(self, event: object) -> None:
        self.acked.append(event)


class Taken:
    def __init__(self, tp: TP) -> None:
        self.message = type("Message", (), {"tp": tp, "topic": tp.topic, "partition": tp.partition, "offset": 7})()


async def test_an_event_whose_transaction_was_aborted_meanwhile_is_not_acknowledged_and_its_rows_not_stored() -> None:
    tp, other = TP("t-abort", 0), TP("t-abort", 1)
    forgotten: list[str] = []
    aborted_partitions.on_abort(lambda: forgotten.append("unstored rows"))
    stream = AckedStream()
    kept, redone = Taken(other), Taken(tp)
    kept_epoch, redone_epoch = aborted_partitions.epoch(other), aborted_partitions.epoch(tp)
    delivered = pending(1)[0]
    stores = StoresInOrder()
    stored: list[str] = []

    def store(taken: Taken, epoch: int) -> list[asyncio.Future[None]]:
        if aborted_partitions.epoch(taken.message.tp) == epoch:  # as agents/context.py store_rows does
            stored.append(taken.message.tp.topic + str(taken.message.tp.partition))
        return []

    def finish(taken: Taken, epoch: int) -> asyncio.Future[None]:
        rest = stores.after([delivered], lambda: store(taken, epoch))
        return asyncio.ensure_future(_ack_when_done(rest, stream, taken, epoch))  # type: ignore[arg-type]

    acks = [finish(redone, redone_epoch), finish(kept, kept_epoch)]
    aborted_partitions.aborted([tp])  # a rebalance aborts partition 0's transaction while the broker takes the outputs
    assert forgotten == ["unstored rows"]
    delivered.set_result(None)
    await asyncio.gather(*acks)
    assert stream.acked == [kept] and stored == ["t-abort1"]  # partition 0's event is redone from its last commit
