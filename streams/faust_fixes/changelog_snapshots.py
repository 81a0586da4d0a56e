"""A changelog record is the row as it was set, and is waited for before its message is acknowledged.

faust serializes a changelog record when its producer buffer gets to it, a moment
later; the engine builds a customer's next context on the same object, so the record
could carry state whose outputs are not on the broker yet (a crash then would lose
them: the next owner would call the redone event a duplicate). Serialized here, at
once, a record is exactly what was stored: the serialization happens once either way.

And faust commits offsets after a flush of that buffer that gives up after 0.1 s, so
a message could be committed while its record still waits in the buffer, and be lost
with it on a stop. The records sent are kept until :meth:`take_sent`, for the writer to
wait for them before the message is acknowledged.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.serializers import codecs as faust_codecs
from faust.types import CodecArg, FutureMessage

from ctxi.streams.faust_fixes import FaustName
from ctxi.streams.faust_fixes.rollback import TransactionalTable

RELIES_ON = (
    FaustName(faust.Table, "send_changelog", "(self, partition, key, value, key_serializer=…, value_serializer=…)"),
    FaustName(faust.Table, "value_serializer", None),
)


class SnapshotTable(TransactionalTable):
    """A table whose changelog records are the values as they were set (:meth:`take_sent` gives them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[FutureMessage] = []

    def send_changelog(  # type: ignore[override]
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: CodecArg | None = None,
        value_serializer: CodecArg | None = None,
    ) -> FutureMessage:
        if value is not None and value_serializer is None:
            value, value_serializer = faust_codecs.dumps(self.value_serializer, value), "raw"
        record = super().send_changelog(partition, key, value, key_serializer, value_serializer)
        self.sent.append(record)
        return record

    def take_sent(self) -> list[FutureMessage]:
        """The changelog records sent since the last call: each resolves once on the broker."""
        sent, self.sent = self.sent, []
        return sent
