"""A table's changelog record is the value as it was when set, whatever happens to it after."""

from __future__ import annotations

from datetime import UTC, datetime

from faust.serializers import codecs

from ctxi.context.state import CustomerContext, SeenEvent
from ctxi.settings import Settings
from ctxi.streams.app import Tables, create_app
from ctxi.streams.codecs import CONTEXT_CODEC

customer_contexts = Tables.create(create_app(Settings()), Settings()).customer_contexts


def test_the_record_is_serialized_when_the_value_is_set() -> None:
    context = CustomerContext(customer_id="C-1", seen=[SeenEvent(event_id="e-1", at=datetime(2026, 3, 3, tzinfo=UTC))])
    record = customer_contexts.send_changelog(0, "C-1", context).message
    # the engine builds the next state on the same object before the producer gets to the record
    context.seen.append(SeenEvent(event_id="e-2", at=datetime(2026, 3, 3, 1, tzinfo=UTC)))
    assert record.value_serializer == "raw"
    assert [seen.event_id for seen in codecs.loads(CONTEXT_CODEC, record.value).seen] == ["e-1"]


def test_a_deleted_key_is_still_a_tombstone() -> None:
    record = customer_contexts.send_changelog(0, "C-1", None, value_serializer="raw").message  # as faust deletes
    assert record.value is None


def test_the_records_sent_are_kept_for_the_writer_to_wait_for() -> None:
    customer_contexts.take_sent()
    first = customer_contexts.send_changelog(0, "C-1", CustomerContext(customer_id="C-1"))
    second = customer_contexts.send_changelog(1, "C-2", CustomerContext(customer_id="C-2"))
    assert customer_contexts.take_sent() == [first, second]
    assert customer_contexts.take_sent() == []
