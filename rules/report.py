"""How agents treated each rule version's tasks: what analysts read to keep or drop a rule.

From the tasks a rule raised (its task topic, or a file) and the outcomes agents reported
(``tasks.outcomes``, or a file), per ``rule_id`` and ``rule_version``: tasks raised, closed
(claimed, then completed or dismissed: an agent closes only a task it claimed), dismissed by
reason, median time to claim and to resolve. A rule version whose closed tasks are mostly
dismissed is flagged as not useful, once it has enough of them to say so.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from ctxi.schemas.task import Task, TaskOutcome

# Flagged as not useful: at least this many closed tasks, this share or more of them dismissed.
MIN_CLOSED_TO_JUDGE = 5
NOT_USEFUL_DISMISSED_SHARE = 0.6
REASON_LENGTH = 60  # dismissal reasons are grouped by their first characters, case, spaces and end stops folded


@dataclass
class RuleUsefulness:
    rule_id: str
    rule_version: int
    raised: int = 0
    completed: int = 0
    dismissed: int = 0
    dismissed_by_reason: Counter[str] = field(default_factory=Counter)  # by reason_group
    reason_wording: dict[str, str] = field(default_factory=dict)  # a group's first wording, as written
    to_claim: list[timedelta] = field(default_factory=list)
    to_resolve: list[timedelta] = field(default_factory=list)
    # revisions that came after an agent had closed the task, inside its cool-down: kept with it
    after_close: int = 0

    @property
    def closed(self) -> int:
        return self.completed + self.dismissed

    @property
    def dismissed_share(self) -> float | None:
        return self.dismissed / self.closed if self.closed else None

    @property
    def not_useful(self) -> bool:
        share = self.dismissed_share
        return self.closed >= MIN_CLOSED_TO_JUDGE and share is not None and share >= NOT_USEFUL_DISMISSED_SHARE

    def top_reasons(self, count: int) -> list[tuple[str, int]]:
        """The ``count`` most given dismissal reasons, each in the words it was first given (cut at a
        word, with an ellipsis, past ``REASON_LENGTH``), with how many gave it."""
        return [(self.reason_wording[group], n) for group, n in self.dismissed_by_reason.most_common(count)]

    @property
    def median_to_claim(self) -> timedelta | None:
        return _median(self.to_claim)

    @property
    def median_to_resolve(self) -> timedelta | None:
        return _median(self.to_resolve)


def _median(durations: list[timedelta]) -> timedelta | None:
    return timedelta(seconds=statistics.median(d.total_seconds() for d in durations)) if durations else None


def reason_group(detail: str) -> str:
    """What dismissal reasons written differently but meaning the same share: case, spaces and end
    stops folded ("Customer was travelling." and "customer was  travelling")."""
    return " ".join(detail.split()).casefold().rstrip(".!;, ")[:REASON_LENGTH]


def reason_wording(detail: str) -> str:
    """A reason as shown: as written, spaces folded, cut at a word past ``REASON_LENGTH``."""
    text = " ".join(detail.split())
    if len(text) <= REASON_LENGTH:
        return text
    return text[: REASON_LENGTH + 1].rsplit(" ", 1)[0].rstrip(".,;:") + "…"  # a word ending at the limit stays


def rule_usefulness(tasks: Iterable[Task], outcomes: Iterable[TaskOutcome]) -> list[RuleUsefulness]:
    """One row per rule version, in rule and version order. A task counts once whatever its
    revisions; an outcome counts once per task (the first one read)."""
    rows: dict[tuple[str, int], RuleUsefulness] = {}
    created: dict[str, Task] = {}

    def row(rule_id: str, rule_version: int) -> RuleUsefulness:
        return rows.setdefault((rule_id, rule_version), RuleUsefulness(rule_id, rule_version))

    revisions: dict[str, set[int]] = {}
    for task in tasks:
        revisions.setdefault(task.task_id, set()).add(task.revision)
        if task.task_id not in created:
            created[task.task_id] = task
            row(task.rule_id, task.rule_version).raised += 1
    closed: set[str] = set()
    for outcome in outcomes:
        if outcome.task_id in closed:
            continue
        closed.add(outcome.task_id)
        usefulness = row(outcome.rule_id, outcome.rule_version)
        if outcome.revision is not None:
            usefulness.after_close += sum(1 for r in revisions.get(outcome.task_id, ()) if r > outcome.revision)
        if outcome.outcome == "completed":
            usefulness.completed += 1
        else:
            usefulness.dismissed += 1
            group = reason_group(outcome.detail)
            usefulness.dismissed_by_reason[group] += 1
            usefulness.reason_wording.setdefault(group, reason_wording(outcome.detail))
        raised = created.get(outcome.task_id)
        created_at = outcome.created_at or (raised.created_at if raised is not None else None)
        if created_at is not None:  # a source's clock ahead of the gateway's would make it negative
            usefulness.to_resolve.append(max(timedelta(0), outcome.at - created_at))
            if outcome.claimed_at is not None:
                usefulness.to_claim.append(max(timedelta(0), outcome.claimed_at - created_at))
    return [rows[key] for key in sorted(rows)]
