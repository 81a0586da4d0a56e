"""What a change to the rule packs changes: the tasks it proposes differently (``ctxi rules
diff``), and rules whose definition changed under the same version (warned by ``diff`` and
``publish``: tasks, reports and learned priorities of one version would then mix two rules).
"""

from __future__ import annotations

from ctxi.rules.loader import LoadedPacks
from ctxi.schemas.task import Task

# what an agent sees change in a task: where it goes, how urgent, what it says, when it shows
COMPARED = ("queue", "priority", "title", "reason", "steps", "not_before", "channel")


def task_changes(before: Task, after: Task) -> list[str]:
    """Each difference between two proposals of one task, as ``field: old -> new``."""
    changes = []
    for name in COMPARED:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            changes.append(f"{name}: {_shown(old)} -> {_shown(new)}")
    return changes


def _shown(value: object) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:79] + "…"


def unversioned_changes(old: LoadedPacks, new: LoadedPacks) -> list[str]:
    """The rules of ``new`` whose definition differs from ``old``'s at the same id and version."""
    before = {compiled.key: compiled.rule for compiled in old.rules}
    return [
        f"{compiled.source}: {compiled.rule.id} v{compiled.rule.version} changed but its version did not; "
        "give it a new version so tasks, reports and learned priorities tell the two apart"
        for compiled in new.rules
        if compiled.key in before and before[compiled.key] != compiled.rule
    ]
