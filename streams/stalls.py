"""The stall detector: an assigned partition with messages waiting whose fetch position has
not moved for a while. faust consumers have been seen to stop fetching silently
(faust-streaming #175); this makes it a metric and a log line instead of a quiet backlog."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Progress:
    position: int
    since: float  # when the position was last seen to move (or the partition first seen)


@dataclass
class StallDetector:
    stall_after_seconds: float
    _progress: dict[tuple[str, int], _Progress] = field(default_factory=dict)

    def observe(self, partition: tuple[str, int], highwater: int, position: int, now: float) -> bool:
        """Whether ``partition`` is stalled: messages wait (``highwater > position``) and the
        position has not moved for ``stall_after_seconds``."""
        seen = self._progress.get(partition)
        if seen is None or seen.position != position or highwater <= position:
            self._progress[partition] = _Progress(position, now)  # moving, or nothing to fetch
            return False
        return now - seen.since >= self.stall_after_seconds

    def forget(self, keep: set[tuple[str, int]]) -> None:
        """Drop partitions no longer assigned to this worker."""
        for partition in set(self._progress) - keep:
            del self._progress[partition]
