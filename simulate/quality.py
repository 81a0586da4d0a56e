"""Decision quality: the tasks ctxi proposed on a simulated stream, against its ground truth.

For every planted situation, each action it tests (``watch``) is scored on its customer:
an expected action proposed once is found; proposed again, a duplicate; not proposed,
missed; a watched action nobody expected is a false alarm. Precision is found over all
watched tasks, recall found over expected. Look-alikes expect nothing, so they are judged
by their false-alarm rate; everyday customers likewise, on every watched action.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel

from ctxi.simulate.stream import GroundTruth

TaskKey = tuple[str, str, str]  # (customer_id, queue, action)


class SituationScore(BaseModel):
    kind: str
    planted: int
    expected: int
    found: int
    missed: int
    duplicates: int
    false_alarms: int
    precision: float | None
    recall: float | None
    passed: bool


class QualityReport(BaseModel):
    threshold: float
    situations: list[SituationScore]
    dead_letters_expected: int
    dead_letters: int
    passed: bool

    def table(self) -> str:
        """The report as a Markdown table, for the terminal and the docs."""
        rows = [
            "| situation | planted | found | missed | duplicates | false alarms | precision | recall | |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for s in self.situations:
            rows.append(
                f"| {s.kind} | {s.planted} | {s.found} | {s.missed} | {s.duplicates} | {s.false_alarms} "
                f"| {_ratio(s.precision)} | {_ratio(s.recall)} | {'ok' if s.passed else '**FAIL**'} |"
            )
        rows.append(
            f"| dead letters | {self.dead_letters_expected} | {self.dead_letters} | | | | | | "
            f"{'ok' if self.dead_letters == self.dead_letters_expected else '**FAIL**'} |"
        )
        return "\n".join(rows)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def score(truth: GroundTruth, tasks: Iterable[TaskKey], dead_letters: int, threshold: float = 0.95) -> QualityReport:
    proposed = Counter((customer, action) for customer, _queue, action in tasks)
    by_kind: dict[str, list] = {}
    for planted in truth.planted:
        by_kind.setdefault(planted.kind, []).append((planted.customer_id, planted.expect, planted.watch))
    watched_anywhere = sorted({action for planted in truth.planted for action in planted.watch})
    by_kind["everyday"] = [(customer, [], watched_anywhere) for customer in truth.everyday_customers]

    scores = []
    for kind, instances in sorted(by_kind.items()):
        found = missed = duplicates = false_alarms = expected = 0
        for customer, expect, watch in instances:
            for action in watch:
                count = proposed[(customer, action)]
                if action in expect:
                    expected += 1
                    found += min(count, 1)
                    missed += count == 0
                    duplicates += max(count - 1, 0)
                else:
                    false_alarms += count
        watched_tasks = found + duplicates + false_alarms
        precision = found / watched_tasks if watched_tasks else None
        recall = found / expected if expected else None
        if expected:
            passed = (precision or 0) >= threshold and (recall or 0) >= threshold
        else:
            passed = false_alarms <= (1 - threshold) * len(instances)
        scores.append(
            SituationScore(
                kind=kind,
                planted=len(instances),
                expected=expected,
                found=found,
                missed=missed,
                duplicates=duplicates,
                false_alarms=false_alarms,
                precision=precision,
                recall=recall,
                passed=passed,
            )
        )
    return QualityReport(
        threshold=threshold,
        situations=scores,
        dead_letters_expected=truth.malformed,
        dead_letters=dead_letters,
        passed=all(s.passed for s in scores) and dead_letters == truth.malformed,
    )


def disagreement(replayed: Iterable[TaskKey], live: Iterable[TaskKey]) -> tuple[list[TaskKey], list[TaskKey]]:
    """Tasks only replay proposed, and tasks only the live workers proposed (as multisets)."""
    a, b = Counter(replayed), Counter(live)
    return sorted((a - b).elements()), sorted((b - a).elements())
