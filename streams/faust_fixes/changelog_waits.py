"""A message is acknowledged only once its changelog records are on the broker.

faust commits offsets after a flush of its producer buffer that gives up after 0.1 s, so
a message could be committed while its record still waits in the buffer, and be lost
with it on a stop. The records sent are kept until :meth:`take_sent`, for the writer to
wait for them before the message is acknowledged.

(The rows are bytes by the time a table gets them, ``engine/rows.py``: a record is the row
as it was set, whatever the engine does next to the model it came from.)
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import CodecArg, FutureMessage

from ctxi.streams.faust_fixes import FaustName
from ctxi.streams.faust_fixes.rollback import TransactionalTable

RELIES_ON = (
    FaustName(faust.Table, "send_changelog", "(self, partition, key, value, key_serializer=…, value_serializer=…)"),
)


class WaitedChangelogTable(TransactionalTable):
    """A table that keeps the changelog records it sends for :meth:`take_sent`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[FutureMessage] = []

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: CodecArg | None = None,
        value_serializer: CodecArg | None = None,
    ) -> FutureMessage:
        record = super().send_changelog(partition, key, value, key_serializer, value_serializer)
        self.sent.append(record)
        return record

    def take_sent(self) -> list[FutureMessage]:
        """The changelog records sent since the last call: each resolves once on the broker."""
        sent, self.sent = self.sent, []
        return sent
