"""The changelog records a table sends are kept for the writer to wait for, tombstones included."""

from __future__ import annotations

from ctxi.agents.codecs import register_codecs
from ctxi.settings import Settings
from ctxi.streams.app import Tables, create_app

register_codecs()  # what a worker's build does before its app
customer_contexts = Tables.create(create_app(Settings()), Settings()).customer_contexts


def test_a_row_goes_to_the_changelog_as_the_bytes_it_is_kept_as() -> None:
    record = customer_contexts.send_changelog(0, "C-1", b'{"customer_id":"C-1"}').message
    assert record.value == b'{"customer_id":"C-1"}'
    customer_contexts.take_sent()


def test_a_deleted_key_is_still_a_tombstone() -> None:
    record = customer_contexts.send_changelog(0, "C-1", None, value_serializer="raw").message  # as faust deletes
    assert record.value is None
    customer_contexts.take_sent()


def test_the_records_sent_are_kept_for_the_writer_to_wait_for() -> None:
    first = customer_contexts.send_changelog(0, "C-1", b"{}")
    second = customer_contexts.send_changelog(1, "C-2", b"{}")
    assert customer_contexts.take_sent() == [first, second]
    assert customer_contexts.take_sent() == []
