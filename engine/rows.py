"""Table rows kept as the bytes their changelog records carry, decoded when the engine reads them.

A decoded :class:`~ctxi.schemas.context.CustomerContext` holds about 13 KB of Python objects
for a record of about 1.8 KB (docs/benchmarks.md, "State at a bank's size"): kept decoded,
a million customers needed 13 GB. :class:`EncodedRows` keeps each row as its JSON bytes
(the very bytes its changelog record carries, so nothing is encoded twice) in any
``MutableMapping[str, bytes]``: a faust table (memory or RocksDB store) in a worker, a
:class:`RowFile` on disk in ``ctxi replay``.

The rows stored most recently are also kept decoded, a bounded number of them, so a
customer's next event does not decode what was just encoded. Reading one hands it over:
the engine joins an event into the object it read, in place, and a decision that fails
after that must not leave the mutated object to be read again; the next read then decodes
what was stored. A decoded row is only read while the mapping still holds the bytes it was
stored as: what changes the mapping behind it (an aborted transaction's rollback) wins.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter

from ctxi.schemas.encoding import dumps_model

Row = TypeVar("Row", bound=BaseModel)


class EncodedRows(MutableMapping[str, Row], Generic[Row]):
    """Rows of one model stored as compact JSON (``dumps_model(state=True)``) in ``encoded``."""

    def __init__(self, model: type[Row], encoded: MutableMapping[str, bytes], decoded_limit: int) -> None:
        self.adapter: TypeAdapter[Row] = TypeAdapter(model)
        self.encoded = encoded
        self.decoded_limit = decoded_limit
        # least recently stored first, each with the bytes it was stored as
        self._decoded: OrderedDict[str, tuple[Row, bytes]] = OrderedDict()

    def __getitem__(self, key: str) -> Row:
        return self._current(self._decoded.pop(key, None), self.encoded[key])

    def peek(self, key: str) -> Row | None:
        """The row, to read and not to change (a decoded one stays kept); None if there is none."""
        encoded = self.encoded.get(key)
        return None if encoded is None else self._current(self._decoded.get(key), encoded)

    def _current(self, kept: tuple[Row, bytes] | None, encoded: bytes) -> Row:
        """The decoded row kept, if the mapping still holds the bytes it was stored as; else ``encoded`` decoded."""
        return kept[0] if kept is not None and _unchanged(kept[1], encoded) else self.adapter.validate_json(encoded)

    def __setitem__(self, key: str, row: Row) -> None:
        encoded = dumps_model(self.adapter, row, state=True)
        self.encoded[key] = encoded
        self._decoded[key] = (row, encoded)
        self._decoded.move_to_end(key)
        if len(self._decoded) > self.decoded_limit:
            self._decoded.popitem(last=False)

    def __delitem__(self, key: str) -> None:
        self._decoded.pop(key, None)
        del self.encoded[key]

    def __contains__(self, key: object) -> bool:
        return key in self.encoded

    def __iter__(self) -> Iterator[str]:
        return iter(self.encoded)

    def __len__(self) -> int:
        return len(self.encoded)

    def pop(self, key: str, *default: Any) -> Any:  # what was stored, without decoding it
        self._decoded.pop(key, None)
        return self.encoded.pop(key, *default)


class RowFile(MutableMapping[str, bytes]):
    """A ``MutableMapping[str, bytes]`` in an SQLite file: rows on disk, a bounded page cache in memory.

    For one process that writes as it goes (``ctxi replay``): nothing is synced to disk, as the
    file is thrown away at the end (a crash loses the run, not data), and writes join one
    transaction never committed, as a commit per row costs more than the row. Writes wait in
    memory, up to ``write_batch`` rows, and go to the file together: one statement per row
    cost more than encoding the row (docs/benchmarks.md, "Issue 30").
    """

    def __init__(self, path: Path, cache_mb: int = 64, write_batch: int = 1_000) -> None:
        self.path = path
        self.write_batch = write_batch
        self._pending: dict[str, bytes | None] = {}  # rows written since the last flush; None: deleted
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY", f"cache_size=-{cache_mb * 1024}"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
        self._db.execute("BEGIN")

    def __getitem__(self, key: str) -> bytes:
        if key in self._pending:
            value = self._pending[key]
        else:
            found = self._db.execute("SELECT value FROM rows WHERE key = ?", (key,)).fetchone()
            value = None if found is None else found[0]
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: bytes) -> None:
        self._pending[key] = value
        if len(self._pending) >= self.write_batch:
            self.flush()

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._pending[key] = None
        if len(self._pending) >= self.write_batch:
            self.flush()

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str) and key in self._pending:
            return self._pending[key] is not None
        return self._db.execute("SELECT 1 FROM rows WHERE key = ?", (key,)).fetchone() is not None

    def __iter__(self) -> Iterator[str]:
        self.flush()
        # a snapshot of the keys, so rows may be written while they are walked
        return iter([key for (key,) in self._db.execute("SELECT key FROM rows ORDER BY key")])

    def __len__(self) -> int:
        self.flush()
        return self._db.execute("SELECT count(*) FROM rows").fetchone()[0]

    def flush(self) -> None:
        """Write the rows waiting in memory to the file."""
        if not self._pending:
            return
        self._db.executemany(
            "INSERT INTO rows VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(key, value) for key, value in self._pending.items() if value is not None],
        )
        self._db.executemany(
            "DELETE FROM rows WHERE key = ?", [(key,) for key, value in self._pending.items() if value is None]
        )
        self._pending.clear()


def _unchanged(stored: bytes, now: bytes) -> bool:
    """Whether the mapping still holds the bytes a decoded row was stored as. Something else may have
    changed it since: an aborted transaction's rows are dropped and read back from the changelog
    (streams/faust_fixes/rollback.py), and the decoded row, which had the aborted events, must not
    be read then (a redone event met its own effects, was taken for a duplicate, and its task was
    lost: the two-worker hand-over test under exactly-once)."""
    return now is stored or now == stored
