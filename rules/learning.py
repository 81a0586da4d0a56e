"""Priorities that learn from outcomes, for the rules that ask (``learn_priority``, off by default).

A rule version's tasks are multiplied by what agents did with its earlier tasks, against a
prior the rule author sets (the share of closed tasks agents complete, assumed before any
outcome) and weighs (as so many closed tasks):

    acceptance = (completed + prior × prior_weight) / (completed + dismissed + prior_weight)
    learned    = clamp(acceptance / prior, min_factor, max_factor)

With the defaults (prior 0.5, prior_weight 10, factor 0.5 to 1.5): no outcome yet, factor 1;
8 of 40 closed tasks completed, (8 + 5) / (40 + 10) = 0.26, factor 0.52; 36 of 40, 0.82,
factor 1.64, held at 1.5. Each version learns apart: a new version starts from its prior.

The tally counts each task once (the first outcome read for it). Workers read every outcome
(agents/broadcast.py), so each learns from all of them; ``ctxi replay --outcomes FILE`` counts
those that came before each event.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

from ctxi.rules.model import LearnedPriority
from ctxi.schemas.task import LearnedFactor, TaskOutcome

TASKS_REMEMBERED = 100_000  # task ids kept to count a task's outcome once (a resent outcome comes soon after)


class OutcomeTally:
    """How agents closed each rule version's tasks, as outcomes are read."""

    def __init__(self) -> None:
        self._completed: Counter[tuple[str, int]] = Counter()
        self._dismissed: Counter[tuple[str, int]] = Counter()
        self._counted: OrderedDict[str, None] = OrderedDict()

    def record(self, outcome: TaskOutcome) -> bool:
        """Count ``outcome``; False when its task was counted already."""
        if outcome.task_id in self._counted:
            return False
        self._counted[outcome.task_id] = None
        if len(self._counted) > TASKS_REMEMBERED:
            self._counted.popitem(last=False)
        key = (outcome.rule_id, outcome.rule_version)
        (self._completed if outcome.outcome == "completed" else self._dismissed)[key] += 1
        return True

    def learned(self, rule_id: str, rule_version: int, spec: LearnedPriority) -> LearnedFactor:
        key = (rule_id, rule_version)
        return learned_factor(spec, self._completed[key], self._dismissed[key])


def learned_factor(spec: LearnedPriority, completed: int, dismissed: int) -> LearnedFactor:
    acceptance = (completed + spec.prior * spec.prior_weight) / (completed + dismissed + spec.prior_weight)
    factor = max(spec.min_factor, min(spec.max_factor, acceptance / spec.prior))
    return LearnedFactor(factor=round(factor, 4), completed=completed, dismissed=dismissed)
