"""A service-level policy as floor managers write it (YAML), validated like rule packs.

Per queue and priority band, the time within which a task must be claimed and resolved;
and the stages of escalation for a task still unclaimed at its ``claim_by``: each raises
its priority once. ``examples/service-levels.yaml`` is a worked example; docs/service-levels.md
explains every key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ctxi.prioritize.formula import PriorityBand, priority_band
from ctxi.schemas.common import Duration
from ctxi.schemas.documents import DocumentKind, line_of, read_document
from ctxi.schemas.task import Task

logger = logging.getLogger(__name__)
POLICY_CONFIG = ConfigDict(extra="forbid", frozen=True)
MAX_TARGET = timedelta(days=30)
POLICY_DOCUMENT = DocumentKind(
    name="service-level policy", shape="a mapping with policy, owner, levels", max_bytes=64 * 1024, max_nodes=5_000
)


class EscalationStage(BaseModel):
    """A stage of escalation: ``after`` this long unclaimed past ``claim_by``, the task's priority
    rises by ``raise_priority_by`` (once)."""

    model_config = POLICY_CONFIG
    after: Duration = Field(description="How long past claim_by the task is still unclaimed (0m: at claim_by).")
    raise_priority_by: Annotated[int, Field(ge=1, le=100)] = Field(description="Points added to its priority.")


class ServiceLevel(BaseModel):
    """The targets of one queue's tasks of one priority band and the bands above it, up to the next
    band the queue has a level for (``any``: from the lowest band)."""

    model_config = POLICY_CONFIG
    queue: Annotated[str, Field(min_length=1)]
    priority: Literal[PriorityBand, "any"]  # one Literal: one error for a wrong band
    claim_within: Duration = Field(description="An agent claims the task within this long of its creation.")
    resolve_within: Duration = Field(description="It is completed or dismissed within this long of its creation.")
    escalate: Annotated[list[EscalationStage], Field(max_length=5)] = []

    @model_validator(mode="after")
    def _targets(self) -> ServiceLevel:
        for name in ("claim_within", "resolve_within"):
            if not timedelta(0) < getattr(self, name) <= MAX_TARGET:
                raise ValueError(f"{name} must be more than 0 and at most 30d")
        if self.claim_within > self.resolve_within:
            raise ValueError(
                "claim_within cannot be longer than resolve_within: a task is claimed before it is resolved"
            )
        afters = [stage.after for stage in self.escalate]
        if afters != sorted(set(afters)):
            raise ValueError("escalate: each stage's 'after' must be later than the one before")
        return self


class Policy(BaseModel):
    model_config = POLICY_CONFIG
    policy: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    owner: str
    levels: Annotated[list[ServiceLevel], Field(min_length=1)]


BANDS_UPWARD: tuple[PriorityBand, ...] = ("low", "medium", "high", "critical")


def short_duration(duration: timedelta) -> str:
    """A target as a policy writes it: 30m, 4h, 1d."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Deadlines:
    claim_by: datetime
    resolve_by: datetime


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy that passed every check, with its lookup by (queue, band)."""

    policy: Policy
    levels: dict[tuple[str, str], ServiceLevel]

    def level_for(self, queue: str, band: PriorityBand) -> ServiceLevel | None:
        """The targets of ``queue``'s tasks of ``band``, as floor managers read a policy: the level of
        that band or the nearest band below it the queue has one for, else the queue's ``any``. A
        level for ``high`` covers critical tasks too unless ``critical`` has its own: a more urgent
        task never falls through to a slower catch-all."""
        for candidate in reversed(BANDS_UPWARD[: BANDS_UPWARD.index(band) + 1]):
            if (level := self.levels.get((queue, candidate))) is not None:
                return level
        return self.levels.get((queue, "any"))

    def bands_of(self, level: ServiceLevel) -> list[PriorityBand]:
        """The bands whose tasks ``level`` gives their targets, lowest first."""
        return [band for band in BANDS_UPWARD if self.level_for(level.queue, band) is level]

    def deadlines(self, queue: str, band: PriorityBand, created_at: datetime) -> Deadlines | None:
        """When a task created at ``created_at`` must be claimed and resolved (None: no target)."""
        level = self.level_for(queue, band)
        if level is None:
            return None
        return Deadlines(created_at + level.claim_within, created_at + level.resolve_within)

    def escalation_due(self, task: Task, now: datetime) -> tuple[int, int] | None:
        """The latest escalation stage due for ``task`` unclaimed at ``now`` (1-based) and the
        points all stages up to it add; None before the first is due, or without stages."""
        if task.claim_by is None:
            return None
        level = self.level_for(task.queue, priority_band(task.priority))
        due = [stage for stage in level.escalate if task.claim_by + stage.after <= now] if level else []
        if not due:
            return None
        return len(due), sum(stage.raise_priority_by for stage in due)

    def next_escalation(self, task: Task, now: datetime) -> datetime | None:
        """When ``task``'s next stage after ``now`` is due (None: no stage left, or no claim_by)."""
        if task.claim_by is None:
            return None
        level = self.level_for(task.queue, priority_band(task.priority))
        later = [task.claim_by + stage.after for stage in level.escalate] if level else []
        return next((at for at in later if at > now), None)

    def with_deadlines(self, task: Task) -> Task:
        """``task`` with its ``claim_by`` and ``resolve_by`` (unchanged when no level applies), and
        kept on its queue at least until it is to be resolved by."""
        deadlines = self.deadlines(task.queue, priority_band(task.priority), task.created_at)
        if deadlines is None:
            return task
        return task.model_copy(
            update={
                "claim_by": deadlines.claim_by,
                "resolve_by": deadlines.resolve_by,
                "expires_at": max(task.expires_at, deadlines.resolve_by),
            }
        )


def arrived(task: Task, at: datetime) -> Task:
    """``task`` as it reaches its queue at ``at`` (a revision: when its first revision did): its
    service-level targets counted from then, not from the event that made it (a task from a
    backlog, or a replayed morning, has waited for no agent before), and kept on its queue at
    least until it is to be resolved by."""
    claim_by = at + (task.claim_by - task.created_at) if task.claim_by else None
    resolve_by = at + (task.resolve_by - task.created_at) if task.resolve_by else None
    expires_at = max(task.expires_at, resolve_by) if resolve_by else task.expires_at
    return task.model_copy(
        update={"queued_at": at, "claim_by": claim_by, "resolve_by": resolve_by, "expires_at": expires_at}
    )


class PolicyError(Exception):
    """A policy that cannot be used; ``errors`` are 'file:line: what is wrong' lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_policy_text(name: str, text: str, queues: frozenset[str]) -> LoadedPolicy:
    """The policy in ``text`` (the file ``name``), for tasks of ``queues``; :class:`PolicyError`
    listing every problem as file:line."""
    errors: list[str] = []
    found = read_document(name, text, Policy, errors, POLICY_DOCUMENT)
    if found is None:
        raise PolicyError(errors)
    policy, document = found
    levels: dict[tuple[str, str], ServiceLevel] = {}
    for index, level in enumerate(policy.levels):
        where = f"{name}:{line_of(document, ('levels', index))}: levels.{index}"
        if level.queue not in queues:
            errors.append(f"{where}.queue: unknown queue {level.queue!r}; tasks go to {', '.join(sorted(queues))}")
        elif (level.queue, level.priority) in levels:
            errors.append(f"{where}: a second level for {level.queue} {level.priority}; each pair has one")
        else:
            levels[(level.queue, level.priority)] = level
    if errors:
        raise PolicyError(errors)
    loaded = LoadedPolicy(policy, levels)
    errors += _slower_for_more_urgent(loaded, name, document)
    if errors:
        raise PolicyError(errors)
    return loaded


def _slower_for_more_urgent(loaded: LoadedPolicy, name: str, document: Any) -> list[str]:
    """'file:line' errors for each band given a slower target than a less urgent band of its queue."""
    errors = []
    for queue in dict.fromkeys(level.queue for level in loaded.policy.levels):
        covered = [(band, loaded.level_for(queue, band)) for band in BANDS_UPWARD]
        for (lower, below), (higher, above) in pairwise(covered):
            if below is None or above is None or below is above:
                continue
            for target in ("claim_within", "resolve_within"):
                slow, fast = getattr(above, target), getattr(below, target)
                if slow > fast:
                    index = loaded.policy.levels.index(above)
                    errors.append(
                        f"{name}:{line_of(document, ('levels', index))}: levels.{index}: {queue} {higher} tasks get "
                        f"{target} {short_duration(slow)}, slower than {lower}'s {short_duration(fast)}: a more "
                        "urgent band never waits longer"
                    )
    return errors


def load_policy(path: Path, queues: frozenset[str]) -> LoadedPolicy:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([f"{path}:1: cannot read it: {exc}"]) from None
    return load_policy_text(str(path), text, queues)


class PolicyFile:
    """A policy file followed without restart: read again when it changes; a changed file that
    cannot be used (mistakes, nesting, anything) is logged once, file:line, ``stale`` says so (for
    a metric), and the policy read before stays in force."""

    def __init__(self, path: Path, queues: frozenset[str]) -> None:
        self.path, self.queues = path, queues
        self._loaded = load_policy(path, queues)  # a policy with mistakes at start stops the caller
        self._mtime: int | None = path.stat().st_mtime_ns
        self.stale = False  # the file on disk is not the policy in force

    def current(self) -> LoadedPolicy:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError as exc:
            if self._mtime is not None:  # said once, not at every look
                logger.warning("service-level policy %s cannot be read (%s); keeping the one in force", self.path, exc)
                self._mtime, self.stale = None, True
            return self._loaded
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                self._loaded, self.stale = load_policy(self.path, self.queues), False
                logger.info("service-level policy %s read again: %s", self.path, self._loaded.policy.policy)
            except PolicyError as exc:
                self.stale = True
                logger.error("service-level policy %s not used, the one before stays:\n%s", self.path, exc)
            except Exception:  # a reader's bug must not stop deadlines: the one in force stays
                self.stale = True
                logger.exception("service-level policy %s could not be read, the one before stays", self.path)
        return self._loaded
