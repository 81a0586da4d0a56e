"""Evaluate compiled rules on an enriched event and turn the ones that fire into tasks."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import cel

from ctxi.enrichers.engagement import engagement_of
from ctxi.features.definitions import CompiledFeature, EventScope, FeatureSet, FeatureValues
from ctxi.features.entities import EntityFeatureRow
from ctxi.prioritize.deadlines import deadline
from ctxi.prioritize.formula import priority
from ctxi.rule_language.explain import Explanation, explain_clauses, shown
from ctxi.rule_language.fields import HIDDEN_CUSTOMER_FIELDS
from ctxi.rule_language.model import Rule, Severity, TaskTemplate
from ctxi.rule_language.projection import Projection, project, project_model, projection
from ctxi.rule_language.sandbox import RuleCostError, failure_message, render, rule_clock
from ctxi.rule_language.typecheck import cel_references
from ctxi.rules.evidence import evidence
from ctxi.rules.learning import OutcomeTally, learned_factor
from ctxi.rules.loader import FEATURE_READ, CompiledRule, LoadedPacks
from ctxi.rules.snooze import Snoozes
from ctxi.schemas.common import Location, shorten
from ctxi.schemas.context import CustomerContext, RecentTask
from ctxi.schemas.events import DeviceType, Event
from ctxi.schemas.signals import Signal, SocialSignal
from ctxi.schemas.task import ConditionHeld, DeviceContext, LearnedFactor, Task, TaskClosure, TaskContext
from ctxi.settings import EngineConfig

logger = logging.getLogger(__name__)

# A rule's base priority, before the formula weighs the customer, the context and the deadline.
SEVERITY_PRIORITY = {Severity.LOW: 20, Severity.MEDIUM: 40, Severity.HIGH: 60, Severity.CRITICAL: 75}


@dataclass(frozen=True)
class Decision:
    """A rule fired: the task it proposes, and whether it is a shadow (not for desktops)."""

    rule: CompiledRule
    task: Task

    @property
    def shadow(self) -> bool:
        return self.rule.rule.mode == "shadow"


@dataclass(frozen=True)
class Closure:
    """A rule fired that closes the customer's open tasks with these actions: they are superseded."""

    rule: CompiledRule
    closure: TaskClosure


@dataclass(frozen=True)
class Counted:
    """An event counted in its customer's features: the rules that listen to it, the variables they
    read, and the features that failed on it (feature id, message)."""

    rules: tuple[CompiledRule, ...]
    variables: RuleVariables
    errors: list[tuple[str, str]]


@dataclass
class RuleOutcomes:
    decisions: list[Decision] = field(default_factory=list)
    closures: list[Closure] = field(default_factory=list)
    evaluated: int = 0
    suppressed: list[tuple[CompiledRule, str]] = field(default_factory=list)  # (rule, why)
    errors: list[tuple[CompiledRule, str]] = field(default_factory=list)
    feature_errors: list[tuple[str, str]] = field(default_factory=list)  # (feature id, message)
    explanations: list[Explanation] = field(default_factory=list)  # of the rule asked for (``explain``)


class RuleSet:
    """Enabled rules indexed by the event types that trigger them; immutable once built."""

    def __init__(self, loaded: LoadedPacks) -> None:
        self.loaded = loaded
        self.version = loaded.version
        index: dict[str, list[CompiledRule]] = defaultdict(list)
        for compiled in loaded.rules:
            if compiled.rule.enabled:
                for event_type in compiled.rule.on:
                    index[event_type].append(compiled)
        self._index = {event_type: tuple(rules) for event_type, rules in index.items()}
        # the rule versions whose priority learns from outcomes: the only ones the tally counts
        self.learning = frozenset(
            compiled.key for compiled in loaded.rules if compiled.rule.then and compiled.then.learn_priority
        )
        self.features = FeatureSet(loaded.features)
        # CEL converts a variable from Python each time an expression reads it (a resolver is
        # asked on every access), so each event converts the variables its programs read once.
        event_types = set(self._index) | {t for compiled in loaded.features for t in compiled.feature.on}
        split = [compiled for compiled in loaded.features if compiled.by]
        self._reads = {t: _reads(self.rules_for(t), self.features.for_type(t), split) for t in event_types}
        self._template_features = {t: _template_features(self.rules_for(t)) for t in self._index}
        across_types = {t for compiled in loaded.features if compiled.across_customers for t in compiled.feature.on}
        self._entity_reads = {t: _reads((), self.features.across_for(t), ()) for t in across_types}
        self.reference = loaded.reference

    def rules_for(self, event_type: str) -> tuple[CompiledRule, ...]:
        return self._index.get(event_type, ())

    def entity_keys(self, event: Event) -> tuple[list[str], list[tuple[str, str]]]:
        """The entity feature rows ``event`` is counted in, in order; the failures (feature id, message)."""
        return self.features.entity_keys(event.type, self._entity_scope(event))

    def count_entity(
        self,
        key: str,
        row: EntityFeatureRow | None,
        event: Event,
        config: EngineConfig,
        feature_clock: dict[str, datetime],
    ) -> tuple[EntityFeatureRow | None, dict[str, Any], list[tuple[str, str]]]:
        """Count ``event`` in the entity feature row ``key``: the row, what rules read of it, the failures."""
        compiled = self.features.entity(key)
        if compiled is None:  # a definition unpublished since the event set out: nothing to count
            return row, {}, []
        self.features.start(feature_clock, event.occurred_at)
        dedup = (timedelta(hours=config.dedup_window_hours), config.dedup_max_ids)
        scope = self._entity_scope(event)
        return self.features.count_for_entity(compiled, row, key, event, scope, feature_clock, dedup)

    def _entity_scope(self, event: Event) -> EventScope:
        reads = self._entity_reads.get(event.type, {})
        kept = reads.get("reference")
        tables = {"reference": self.reference}
        return EventScope(
            event, cel.Context(), reads.get("event"), tables, lambda: {"reference": project(self.reference, kept)}
        )

    def evaluate(
        self,
        event: Event,
        context: CustomerContext,
        signals: Sequence[Signal],
        config: EngineConfig,
        snoozes: Snoozes | None = None,
        feature_clock: dict[str, datetime] | None = None,
        entity_values: dict[str, dict[str, Any]] | None = None,
        tally: OutcomeTally | None = None,
        explain: str | None = None,
    ) -> RuleOutcomes:
        """:meth:`count` then :meth:`decide`: the engine's features and decide steps, for one event."""
        clock = {} if feature_clock is None else feature_clock
        counted = self.count(event, context, signals, clock)
        if counted is None:
            return RuleOutcomes()
        outcomes = self.decide(counted, event, context, signals, config, snoozes, clock, entity_values, tally, explain)
        outcomes.feature_errors = counted.errors
        return outcomes

    def count(
        self, event: Event, context: CustomerContext, signals: Sequence[Signal], feature_clock: dict[str, datetime]
    ) -> Counted | None:
        """Count ``event`` in the customer's features (in place); None when no rule or feature listens to it.

        ``feature_clock``: when the engine began computing each feature (it outlives rule sets).
        """
        rules = self.rules_for(event.type)
        counting = self.features.counts(event.type)
        if not rules and not counting:
            return None
        reads = self._reads.get(event.type)
        if reads is None:  # a rule set whose rules_for differs from its index (benchmarks/rules.py)
            reads = _reads(rules, (), ())
        # before the features count: a customer's features read the event, its signals and the customer
        variables = RuleVariables(
            event, context, signals, None, self._template_features.get(event.type), reads, self.reference
        )
        if self.features:
            self.features.start(feature_clock, event.occurred_at)
        errors = self.features.count(event, context, variables.scope, feature_clock) if counting else []
        return Counted(rules, variables, errors)

    def decide(
        self,
        counted: Counted,
        event: Event,
        context: CustomerContext,
        signals: Sequence[Signal],
        config: EngineConfig,
        snoozes: Snoozes | None,
        feature_clock: dict[str, datetime],
        entity_values: dict[str, dict[str, Any]] | None,
        tally: OutcomeTally | None,
        explain: str | None,
    ) -> RuleOutcomes:
        """Run the rules that listen to ``event``, after its features counted it: the tasks they
        raise, each with its priority (prioritize/formula.py), and the closures they make.

        ``entity_values``: the entity features the event was counted in on its way (per id);
        ``tally``: how agents closed each rule version's tasks (for rules with ``learn_priority``);
        ``explain``: a rule id whose evaluation to explain (``outcomes.explanations``, rule_language/explain.py).
        """
        outcomes, rules, variables = RuleOutcomes(), counted.rules, counted.variables
        if not rules:
            return outcomes
        # after the features counted this event: `features` sees it
        variables.set_features(
            self.features.read(context, _read_at(event, context, config), feature_clock, variables.scope, entity_values)
        )
        at = event.occurred_at
        context.recent_tasks = [recent for recent in context.recent_tasks if recent.until > at]
        budget = config.rule_budget_ms / 1000
        for compiled in rules:
            outcomes.evaluated += 1
            explaining = compiled.rule.id == explain
            started = rule_clock()
            try:
                fired = compiled.condition.execute(variables.plain, variables.cel_context) is True
                task = None
                if fired and compiled.rule.then is not None:
                    task = _task(compiled, event, context, signals, variables, config, tally)
                if (spent := rule_clock() - started) > budget:
                    raise RuleCostError(
                        f"took {spent * 1000:,.0f} ms on this event; the budget is {config.rule_budget_ms:g} ms "
                        "(CTXI_ENGINE__RULE_BUDGET_MS)"
                    )
            except Exception as exc:  # a condition can fail on data (a null where a number was expected)
                message = failure_message(exc)
                logger.warning(
                    "rule %s v%s failed on %s: %s", compiled.rule.id, compiled.rule.version, event.event_id, message
                )
                outcomes.errors.append((compiled, message))
                if explaining:
                    outcomes.explanations.append(_explanation(compiled, variables, event, f"failed: {message}"))
                continue
            if fired and compiled.rule.supersedes and compiled.rule.mode == "active":
                reason = f"superseded by {compiled.rule.id} v{compiled.rule.version} on {event.type} {event.event_id}"
                closure = TaskClosure(
                    customer_id=context.customer_id,
                    actions=compiled.rule.supersedes,
                    rule_id=compiled.rule.id,
                    rule_version=compiled.rule.version,
                    reason=reason,
                    at=event.occurred_at,
                )
                outcomes.closures.append(Closure(compiled, closure))
            if task is None:
                if explaining:
                    what = "fired: closes superseded tasks, raises none" if fired else "condition false: no task"
                    outcomes.explanations.append(_explanation(compiled, variables, event, what))
                continue
            why = _suppressed(compiled, task, context, snoozes, at, config)
            if why:
                outcomes.suppressed.append((compiled, why))
                if explaining:
                    outcomes.explanations.append(_explanation(compiled, variables, event, f"fired, no task: {why}"))
                continue
            if compiled.rule.mode == "active":
                task = _within_cooldown(compiled, task, context, at)
            task = task.model_copy(update={"conditions": _conditions_held(compiled, variables)})
            outcomes.decisions.append(Decision(compiled, task))
            if explaining:
                outcomes.explanations.append(_explanation(compiled, variables, event, _what_came(compiled, task)))
        if outcomes.closures:
            _supersede_same_event(outcomes)
        return outcomes


def _read_at(event: Event, context: CustomerContext, config: EngineConfig) -> datetime:
    """When the rules read the features: at the event's time, or, for an event that came out of
    order within the grace window, as of the customer's latest event, so that live (where the
    later event may come first) sees what replay (in event-time order) sees: once, two delays
    fanned out from two partitions each counted only in its own window, and "2 delays in 7
    days" never held live though it did in replay."""
    watermark = context.watermark
    if watermark is not None and event.occurred_at < watermark <= event.occurred_at + timedelta(
        seconds=config.late_grace_seconds
    ):
        return watermark
    return event.occurred_at


def _explanation(compiled: CompiledRule, variables: RuleVariables, event: Event, outcome: str) -> Explanation:
    """The rule's clauses on this event, the features it read, and ``outcome``."""
    rule = compiled.rule
    values = variables.all()
    read = set(FEATURE_READ.findall(" ".join(_texts(rule))))
    known = variables.plain["features"]
    features = {feature_id: dict(known[feature_id]) for feature_id in sorted(read) if feature_id in known}
    clauses = explain_clauses(rule.when, variables.cel_context, values, variables.plain)
    customer_id = variables.plain["customer"]["customer_id"]
    return Explanation(
        rule.id, rule.version, customer_id, event.event_id, event.type, event.occurred_at, clauses, features, outcome
    )


def _conditions_held(compiled: CompiledRule, variables: RuleVariables) -> list[ConditionHeld]:
    """Why the rule fired, for the desktop: each clause of its condition with what it read."""
    clauses = explain_clauses(compiled.rule.when, variables.cel_context, variables.all(), variables.plain)
    return [
        ConditionHeld(clause=shorten(clause.text), reads={path: shown(value) for path, value in clause.reads.items()})
        for clause in clauses
    ]


def _what_came(compiled: CompiledRule, task: Task) -> str:
    if compiled.rule.mode == "shadow":
        return f"fired (shadow): task {task.task_id} to the shadow topic, not to desktops"
    if task.revision > 1:
        return (
            f"fired inside the cool-down of task {task.task_id}: revision {task.revision} of it (kept with it, not "
            "reopened, if an agent closed it)"
        )
    deferred = f", shown from {task.not_before.isoformat()}" if task.not_before is not None else ""
    return f"task {task.task_id} raised, priority {task.priority}{deferred}, expires {task.expires_at.isoformat()}"


def _supersede_same_event(outcomes: RuleOutcomes) -> None:
    """A closure also stops the tasks this same event raised, whichever pack (or order) raised
    them: the closing rule's own tasks stay."""
    kept = []
    for decision in outcomes.decisions:
        closing = next(
            (
                c.rule
                for c in outcomes.closures
                if decision.task.action in c.closure.actions and c.rule is not decision.rule
            ),
            None,
        )
        if closing is None:
            kept.append(decision)
        else:
            outcomes.suppressed.append(
                (decision.rule, f"superseded by {closing.rule.id} v{closing.rule.version} on the same event")
            )
    outcomes.decisions = kept


def _reads(
    rules: Sequence[CompiledRule], features: Sequence[CompiledFeature], split: Sequence[CompiledFeature]
) -> dict[str, Projection]:
    """The variables the CEL programs of these rules and features read, each with the part they read
    (``split`` features' ``by``: rules read the part of the event they are about)."""
    sources = [rule.rule.when for rule in rules]  # all of it: CEL runs a whole condition on a plain error
    sources += [rule.rule.then.priority for rule in rules if rule.rule.then and rule.rule.then.priority]
    texts = [text for rule in rules for text in _texts(rule.rule)]
    # every feature expression: plain ones read the models in Python, and CEL only when they leave
    # an error or an unusual type to it (rule_language/plain.py), so the projection costs nothing then
    if any("features" in text for text in texts):  # a split feature is read for this event's part
        sources += [e.source for f in split for e in f.by]
    sources += [e.source for f in features for e in f.expressions]
    paths: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for source in sources:
        for reference in cel_references(source):
            paths[reference.path[0]].append(reference.path[1:])
    reads = {name: projection(found) for name, found in paths.items()}
    customer = reads.get("customer")
    if customer is not None:  # what rules cannot see is never handed to them
        reads["customer"] = {k: v for k, v in customer.items() if k not in HIDDEN_CUSTOMER_FIELDS}
    return reads


def _template_features(rules: Sequence[CompiledRule]) -> frozenset[str] | None:
    """The features the templates of ``rules`` read; None: one reads them all."""
    read: set[str] = set()
    for rule in rules:
        if rule.template_features is None:
            return None
        read |= rule.template_features
    return frozenset(read)


def _texts(rule: Rule) -> list[str]:
    """What a rule's CEL and templates say."""
    then = rule.then
    if then is None:
        return [rule.when]
    return [rule.when, then.priority or "", then.title, then.reason, then.dedup_key, *then.steps]


class RuleVariables:
    """``event``, ``customer``, ``signals`` and ``features`` as rules see them, three ways, each built on first use:

    - ``plain``: the models themselves, for the plain conditions Python runs (rule_language/plain.py);
    - ``cel_context()``: a CEL context with the parts of each variable the CEL programs read (``reads``);
    - ``all()``: JSON-shaped values for the templates (of ``features``, those in ``features_read``; None: all).

    ``scope`` is what a customer's features read as they count the event (all but ``features``,
    which :meth:`set_features` gives once they have counted it), sharing the CEL context.
    """

    def __init__(
        self,
        event: Event,
        context: CustomerContext,
        signals: Sequence[Signal],
        features: FeatureValues | None = None,
        features_read: frozenset[str] | None = None,
        reads: dict[str, Projection] | None = None,
        reference: Mapping[str, Any] | None = None,
    ) -> None:
        first_of_kind: dict[str, Signal] = {}
        for signal in signals:
            first_of_kind.setdefault(signal.kind, signal)
        tables = reference or {}
        self._features: FeatureValues | None = None
        self._features_read = features_read
        self.plain: dict[str, Any] = {
            "event": event,
            "customer": _CustomerView(context),
            "signals": first_of_kind,
            "features": {},
            "reference": tables,
        }
        self._sources = {
            "event": lambda: event.model_dump(mode="json"),
            "customer": lambda: context.model_dump(mode="json", exclude=HIDDEN_CUSTOMER_FIELDS),
            "signals": lambda: signals_by_kind(signals),
            "features": lambda: self._features.subset(self._features_read) if self._features is not None else {},
            "reference": lambda: tables,
        }
        self._values: dict[str, Any] = {}
        self._context, self._reads = context, reads or {}
        self._features_added = "features" not in self._reads
        around = {name: self.plain[name] for name in ("customer", "signals", "reference")}
        self.scope = EventScope(event, cel.Context(), self._reads.get("event"), around, self._around_cel)
        if features is not None:
            self.set_features(features)

    def set_features(self, features: FeatureValues) -> None:
        """``features`` as rules read them, once the event has been counted in them."""
        self._features = self.plain["features"] = features
        self._values.pop("features", None)

    def _around_cel(self) -> dict[str, Any]:
        """``customer``, ``signals`` and ``reference``, each cut to the part CEL programs read."""
        values = {}
        if "customer" in self._reads:  # only what is read: no dump of the whole context
            kept = self._reads["customer"]
            values["customer"] = (
                project_model(self._context, kept) if kept is not None else project(self.get("customer"), None)
            )
        for name in ("signals", "reference"):
            if name in self._reads:
                values[name] = project(self.get(name), self._reads[name])
        return values

    def get(self, name: str) -> Any:
        if name not in self._values and name in self._sources:
            self._values[name] = self._sources[name]()
        return self._values.get(name)

    def all(self) -> dict[str, Any]:
        return {name: self.get(name) for name in self._sources}

    def cel_context(self) -> cel.Context:
        """The CEL context, with the part of each variable that CEL programs read."""
        cel_context = self.scope.cel_context(event="event" in self._reads)
        if not self._features_added and self._features is not None:
            self._features_added = True
            kept = self._reads["features"]
            chosen = self._features.subset(kept.keys()) if kept is not None else self.get("features")
            cel_context.add_variable("features", project(chosen, kept))
        return cel_context


_CUSTOMER_FIELDS = tuple(name for name in CustomerContext.model_fields if name not in HIDDEN_CUSTOMER_FIELDS)


class _CustomerView(Mapping[str, Any]):
    """The customer's context as plain conditions read it: its fields less what rules cannot see."""

    def __init__(self, context: CustomerContext) -> None:
        self._context = context

    def __getitem__(self, name: str) -> Any:
        if name not in _CUSTOMER_FIELDS:
            raise KeyError(name)
        return getattr(self._context, name)

    def __iter__(self) -> Iterator[str]:
        return iter(_CUSTOMER_FIELDS)

    def __len__(self) -> int:
        return len(_CUSTOMER_FIELDS)


def signals_by_kind(signals: Sequence[Signal]) -> dict[str, dict[str, Any]]:
    """Signals as analysts address them: ``signals.location_conflict.speed_kmh`` (first of each kind).

    Values are JSON-shaped (timestamps and dates as RFC 3339 strings), as in the event contract.
    """
    by_kind: dict[str, dict[str, Any]] = {}
    for signal in signals:
        by_kind.setdefault(signal.kind, signal.model_dump(mode="json"))
    return by_kind


def _suppressed(
    compiled: CompiledRule,
    task: Task,
    context: CustomerContext,
    snoozes: Snoozes | None,
    at: datetime,
    config: EngineConfig,
) -> str | None:
    dedup_key = task.dedup_key or ""
    since = at - timedelta(days=config.contact_policy_days)
    rejected = sum(1 for r in context.rejections if r.action == task.action and r.at >= since)
    if rejected >= config.contact_policy_rejects:
        return f"contact policy: {task.action} dismissed {rejected} times for this customer"
    if snoozes is not None:
        snooze = snoozes.find(compiled.rule.id, task.customer_id, dedup_key, at)
        if snooze is not None:
            return f"snoozed until {snooze.until.isoformat()}: {snooze.reason}"
    return None


def _within_cooldown(compiled: CompiledRule, task: Task, context: CustomerContext, at: datetime) -> Task:
    """Inside the cool-down of an earlier task with the same rule and dedup key, ``task`` becomes
    the next revision of that task (same id and age; the latest facts, reason and expiry);
    otherwise it starts a cool-down of its own."""
    for index, recent in enumerate(context.recent_tasks):
        if recent.rule_id == compiled.rule.id and recent.dedup_key == task.dedup_key:
            revision = recent.revision + 1
            context.recent_tasks[index] = recent.model_copy(update={"revision": revision})
            return task.model_copy(
                update={
                    "task_id": recent.task_id,
                    "created_at": recent.created_at,
                    "revision": revision,
                    "updates_until": recent.until,
                }
            )
    if compiled.then.cooldown:
        until = at + compiled.then.cooldown
        context.recent_tasks.append(
            RecentTask(
                rule_id=compiled.rule.id,
                dedup_key=task.dedup_key or "",
                until=until,
                task_id=task.task_id,
                created_at=task.created_at,
            )
        )
        return task.model_copy(update={"updates_until": until})
    return task


def _task(
    compiled: CompiledRule,
    event: Event,
    context: CustomerContext,
    signals: Sequence[Signal],
    rule_variables: RuleVariables,
    config: EngineConfig,
    tally: OutcomeTally | None,
) -> Task:
    rule, then = compiled.rule, compiled.then
    variables = rule_variables.all()
    dedup_key = render(compiled.dedup_key, variables).strip()
    due = deadline(signals)
    social = next((s for s in signals if isinstance(s, SocialSignal)), None)
    engagement = engagement_of(context, config).score
    details = evidence(event, signals, context, then.evidence)
    breakdown = priority(
        _base_priority(compiled, rule_variables),
        tier=context.profile.tier if context.profile else None,
        lifetime_value=context.profile.lifetime_value if context.profile else None,
        reach=social.reach if social else None,
        sentiment=context.last_sentiment,
        created_at=event.occurred_at,
        due_by=due.at if due else None,
        weights=config.priority,
        learned=_learned(compiled, tally),
        engagement=engagement,
    )
    digest = hashlib.sha256(f"{rule.id}|{rule.version}|{event.event_id}|{context.customer_id}".encode()).hexdigest()
    expires_at = event.occurred_at + then.expires_in
    if due is not None:  # a task stays on its queue until what it is due for has happened (within due_keep_days)
        expires_at = max(expires_at, min(due.at, event.occurred_at + timedelta(days=config.due_keep_days)))
    return Task(
        task_id=f"t-{digest[:20]}",
        customer_id=context.customer_id,
        queue=then.queue,
        action=then.action,
        title=render(compiled.title, variables).strip(),
        priority=breakdown.priority,
        priority_breakdown=breakdown,
        due_by=due.at if due else None,
        due_for=due.what if due else None,
        reason=render(compiled.reason, variables).strip(),
        steps=[render(step, variables).strip() for step in compiled.steps],
        evidence=[item.event_id for item in details],
        evidence_details=details,
        rule_id=rule.id,
        rule_version=rule.version,
        created_at=event.occurred_at,
        not_before=_not_before(then, context, event.occurred_at, config),
        expires_at=expires_at,
        channel=then.channel or (context.profile.preferred_channel if context.profile else None),
        context=context_card(context, engagement),
        dedup_key=dedup_key,
    )


def _not_before(then: TaskTemplate, context: CustomerContext, at: datetime, config: EngineConfig) -> datetime | None:
    """Defer a non-urgent task while its customer is on a phone: better done on a large screen.

    Critical tasks (a missed connection) and rules with ``defer: never`` (all of fraud) are never deferred.
    """
    if then.severity is Severity.CRITICAL or then.defer == "never":
        return None
    device = context.customer_device
    on_phone = (
        device is not None
        and device.device_type is DeviceType.PHONE
        and timedelta(0) <= at - device.seen_at <= timedelta(minutes=config.on_phone_minutes)
    )
    if on_phone:
        return at + timedelta(hours=config.phone_defer_hours)
    return None


def _learned(compiled: CompiledRule, tally: OutcomeTally | None) -> LearnedFactor | None:
    spec = compiled.then.learn_priority
    if spec is None:
        return None
    rule = compiled.rule
    return tally.learned(rule.id, rule.version, spec) if tally is not None else learned_factor(spec, 0, 0)


def _base_priority(compiled: CompiledRule, variables: RuleVariables) -> int:
    if compiled.priority is None:
        return SEVERITY_PRIORITY[compiled.then.severity]
    value = compiled.priority.execute(variables.cel_context())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"priority must be a number, got {value!r}")
    return max(0, min(100, round(value)))


def context_card(context: CustomerContext, engagement: float | None = None) -> TaskContext:
    profile, last, device = context.profile, context.last_location(), context.customer_device
    location = None
    if last is not None:
        location = Location(
            lat=last.lat, lon=last.lon, city=last.city, country=last.country, accuracy_km=last.accuracy_km
        )
    return TaskContext(
        tier=profile.tier if profile else None,
        lifetime_value=profile.lifetime_value if profile else None,
        currency=profile.currency if profile else None,
        last_location=location,
        open_cases=len(context.open_cases),
        sentiment=context.last_sentiment,
        device=DeviceContext(device_type=device.device_type, channel=device.channel, seen_at=device.seen_at)
        if device
        else None,
        engagement=engagement,
    )
