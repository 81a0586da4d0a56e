"""How far a table restore has got: records read and to go, the rate, the time left.

faust restores a worker's tables from their changelogs before the worker decides anything
(at start, and for the partitions a rebalance gives it); its own estimate averages every
record since the start, and said 14 h for a restore that was merely slow early on. This
follows the changelog offsets still to read, sampled every few seconds, and estimates from
the rate of the last minute. (A compacted changelog has gaps: offsets, not records, are
counted, so the rate is in offsets read per second.)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

RATE_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class RestoreReport:
    restoring: bool
    read: int  # changelog offsets read since this restore began
    remaining: int
    seconds: float  # since this restore began
    per_second: float | None  # over the last minute (None until two samples)

    @property
    def seconds_left(self) -> float | None:
        if not self.remaining:
            return 0.0
        return self.remaining / self.per_second if self.per_second else None

    def line(self) -> str:
        rate = f"{self.per_second:,.0f} offsets/s" if self.per_second is not None else "rate not known yet"
        if not self.restoring:
            return f"tables restored: {self.read:,} changelog offsets read in {self.seconds:.1f}s ({rate})"
        left = self.seconds_left
        eta = f"about {left:,.0f}s left" if left is not None else "time left not known yet"
        return (
            f"restoring tables: {self.read:,} changelog offsets read, {self.remaining:,} to go, {rate}, "
            f"{eta} (restoring for {self.seconds:,.0f}s; not ready until done)"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "restoring": self.restoring,
            "read": self.read,
            "remaining": self.remaining,
            "seconds": round(self.seconds, 1),
            "per_second": None if self.per_second is None else round(self.per_second, 1),
            "seconds_left": None if (left := self.seconds_left) is None else round(left, 1),
        }


@dataclass
class RestoreProgress:
    """Samples of (time, offsets remaining) while restoring; :meth:`observe` reports each."""

    started_at: float | None = None
    read: int = 0
    samples: deque[tuple[float, int]] = field(default_factory=deque)
    last: RestoreReport | None = None

    def observe(self, now: float, restoring: bool, remaining: int) -> RestoreReport | None:
        """The report at ``now``: None when not restoring and nothing was (a finished restore is
        reported once, then forgotten)."""
        if not restoring:
            if self.started_at is None:
                return None
            seconds = now - self.started_at
            read = self.read + (self.samples[-1][1] if self.samples else 0)  # what was left has been read
            report = RestoreReport(False, read, 0, seconds, read / seconds if seconds > 0 else None)
            self.started_at, self.read, self.samples, self.last = None, 0, deque(), report
            return report
        if self.started_at is None:
            self.started_at = now
        elif self.samples:
            if remaining > self.samples[-1][1]:  # a rebalance added partitions: more to read, nothing read
                self.samples.clear()  # and the rate starts again from here
            else:
                self.read += self.samples[-1][1] - remaining
        self.samples.append((now, remaining))
        while len(self.samples) > 2 and now - self.samples[1][0] >= RATE_WINDOW_SECONDS:
            self.samples.popleft()
        self.last = RestoreReport(True, self.read, remaining, now - self.started_at, self._rate())
        return self.last

    def _rate(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (first_at, first_remaining), (last_at, last_remaining) = self.samples[0], self.samples[-1]
        return max(0, first_remaining - last_remaining) / (last_at - first_at)
