"""The service-level policy (``CTXI_SLA_POLICY``) followed without restart: the worker reads
the file again when it changes, and the tasks it makes from then on get the new deadlines
(a changed file with mistakes is logged, file:line, and the policy before stays)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctxi.service_levels.policy import PolicyFile
from ctxi.streams.metrics import DOCUMENT_STALE

if TYPE_CHECKING:
    from ctxi.agents.worker import Worker

POLICY_CHECK_SECONDS = 5.0


def install(worker: Worker) -> None:
    """Give the engine the policy now (:class:`PolicyError` if it is unusable), then follow its file."""
    settings = worker.settings
    if settings.sla_policy is None:
        return
    policy = PolicyFile(settings.sla_policy, frozenset(settings.queues))
    worker.engine.service_levels = policy.current()

    @worker.app.timer(interval=POLICY_CHECK_SECONDS, name=f"{__name__}.follow_policy")
    async def follow_policy() -> None:
        worker.engine.service_levels = policy.current()  # one assignment: a task gets one policy's deadlines
        DOCUMENT_STALE.labels("sla_policy").set(int(policy.stale))
