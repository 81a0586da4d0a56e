"""Priorities that learn from outcomes, for the rules that ask (``learn_priority``, off by default).

A rule version's tasks are multiplied by what agents did with its earlier tasks, against a
prior the rule author sets (the share of closed tasks agents complete, assumed before any
outcome) and weighs (as so many closed tasks):

    acceptance = (completed + prior × prior_weight) / (completed + dismissed + prior_weight)
    learned    = clamp(acceptance / prior, min_factor, max_factor)

With the defaults (prior 0.5, prior_weight 10, factor 0.5 to 1.5): no outcome yet, factor 1;
8 of 40 closed tasks completed, (8 + 5) / (40 + 10) = 0.26, factor 0.52; 36 of 40, 0.82,
factor 1.64, held at 1.5. Each version learns apart: a new version starts from its prior.

The tally counts each task once (the first outcome read for it), only for rule versions in
the live set that learn (junk rule ids on the topic cannot fill it), and at most
:data:`CLOSES_PER_AGENT` closes of one agent per rule version: one agent dismissing 300 tasks
is one agent's judgement, not 300. Workers read every outcome (agents/rules.py), believing
only what a gateway signed (ingest/outcomes.py), so each learns from all of them;
``ctxi replay --outcomes FILE`` counts those that came before each event.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, OrderedDict
from collections.abc import Container

from ctxi.rule_language.model import LearnedPriority
from ctxi.schemas.task import LearnedFactor, TaskOutcome

logger = logging.getLogger(__name__)
TASKS_REMEMBERED = 100_000  # task ids kept to count a task's outcome once (a resent outcome comes soon after)
RULE_VERSIONS_KEPT = 10_000  # more is not a rule set but junk on the outcomes topic: memory stays bounded
CLOSES_PER_AGENT = 10  # of one rule version's tasks, one agent's closes that count (prior_weight's default)
RULE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")  # as rule_language/model.py's Rule.id


class OutcomeTally:
    """How agents closed each rule version's tasks, as outcomes are read."""

    def __init__(self) -> None:
        self._closed: dict[tuple[str, int], Counter[str]] = {}  # (rule id, version) -> completed, dismissed
        self._by_agent: Counter[tuple[str, int, str]] = Counter()  # (rule id, version, agent) -> closes counted
        self._counted: OrderedDict[str, None] = OrderedDict()
        self._full = False  # warned that RULE_VERSIONS_KEPT was reached

    def record(self, outcome: TaskOutcome, learning: Container[tuple[str, int]]) -> bool:
        """Count ``outcome``; False when its task was counted already, its rule version is not one
        of ``learning`` (the live set's versions that learn), its agent's closes of that version
        are counted up to :data:`CLOSES_PER_AGENT` already, or it names no rule a pack could hold."""
        key = (outcome.rule_id, outcome.rule_version)
        if key not in learning or outcome.task_id in self._counted:
            return False
        if key not in self._closed and not self._room_for(outcome.rule_id):
            return False
        self._counted[outcome.task_id] = None
        if len(self._counted) > TASKS_REMEMBERED:
            self._counted.popitem(last=False)
        agent = (*key, outcome.agent_id)
        if self._by_agent[agent] >= CLOSES_PER_AGENT:
            return False
        self._by_agent[agent] += 1
        self._closed.setdefault(key, Counter())[outcome.outcome] += 1
        return True

    def _room_for(self, rule_id: str) -> bool:
        if not RULE_ID.match(rule_id):
            return False
        if len(self._closed) >= RULE_VERSIONS_KEPT:
            if not self._full:
                logger.warning("outcome tally: %d rule versions counted; outcomes of others are not", len(self._closed))
                self._full = True
            return False
        return True

    def learned(self, rule_id: str, rule_version: int, spec: LearnedPriority) -> LearnedFactor:
        closed = self._closed.get((rule_id, rule_version), Counter())
        return learned_factor(spec, closed["completed"], closed["dismissed"])


def learned_factor(spec: LearnedPriority, completed: int, dismissed: int) -> LearnedFactor:
    acceptance = (completed + spec.prior * spec.prior_weight) / (completed + dismissed + spec.prior_weight)
    factor = max(spec.min_factor, min(spec.max_factor, acceptance / spec.prior))
    return LearnedFactor(factor=round(factor, 4), completed=completed, dismissed=dismissed)
