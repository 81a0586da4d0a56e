"""Liveness and readiness on the worker's web server (``CTXI_WEB_PORT``), for probes; and
the consumer lag and stall detector, every few seconds.

``/health`` answers while the worker's event loop runs, from the start (a restore of
minutes must not fail a liveness probe). ``/ready`` answers 200 once the worker holds
partitions and has restored their tables from the changelogs, 503 while it rebalances or
restores, with the restore's progress: a load balancer or a rollout should wait for it.
While a restore runs, its progress is logged and measured every few seconds
(``streams/restore.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from faust import web
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery

from ctxi.streams.app import WorkerApp
from ctxi.streams.metrics import CONSUMER_LAG, RESTORE_RATE, RESTORE_REMAINING, RESTORE_SECONDS, STALLED
from ctxi.streams.stalls import StallDetector

if TYPE_CHECKING:
    from ctxi.agents.worker import Worker

logger = logging.getLogger(__name__)


def install(worker: Worker) -> None:
    app, stall_seconds = worker.app, worker.settings.stall_seconds
    app.page("/health")(Health)
    app.page("/ready")(Ready)
    app.before_restore.append(lambda: watch_restore(app, worker.settings.restore_report_seconds))
    detector = StallDetector(stall_seconds)
    reported: set[tuple[str, int]] = set()  # stalls already logged, so each is logged when it starts

    @app.timer(interval=min(5.0, stall_seconds / 4), name=f"{__name__}.watch_partitions")
    async def watch_partitions() -> None:
        """Lag per assigned partition, and stalls. Table changelogs are left out: after recovery
        they are only written to, so their position stands still by design."""
        assigned = {tp for tp in app.consumer.assignment() if not tp.topic.endswith("-changelog")}
        detector.forget({(tp.topic, tp.partition) for tp in assigned})
        for tp in assigned:
            highwater, position = app.consumer.highwater(tp), await app.consumer.position(tp)
            if highwater is None or position is None:
                continue
            labels = (tp.topic, str(tp.partition))
            CONSUMER_LAG.labels(*labels).set(max(0, highwater - position))
            partition = (tp.topic, tp.partition)
            stalled = detector.observe(partition, highwater, position, time.monotonic())
            if stalled and partition not in reported:
                logger.warning(
                    "partition %s[%s] stalled: %d messages waiting, position %d unchanged for %.0fs",
                    tp.topic,
                    tp.partition,
                    highwater - position,
                    position,
                    stall_seconds,
                    extra={"origin": f"{tp.topic}[{tp.partition}]"},
                )
            if stalled:
                reported.add(partition)
            else:
                reported.discard(partition)
            STALLED.labels(*labels).set(1 if stalled else 0)


async def watch_restore(app: WorkerApp, every_seconds: float) -> None:
    """Every ``every_seconds`` while tables restore: progress in the log and in metrics (a rebalance's
    restores too, for as long as the worker runs)."""
    recovery = recovery_of(app)
    while not app.should_stop:
        try:
            restoring = recovery.in_recovery
            report = app.restore_progress.observe(
                time.monotonic(), restoring, recovery.active_remaining_total() if restoring else 0
            )
        except Exception:  # faust's bookkeeping mid-rebalance: the next look will do
            logger.exception("could not read the restore's progress")
            report = None
        if report is not None:
            logger.info("%s", report.line())
            RESTORE_SECONDS.set(report.seconds if report.restoring else 0)
            RESTORE_REMAINING.set(report.remaining)
            RESTORE_RATE.set(report.per_second or 0)
        await asyncio.sleep(every_seconds)


def recovery_of(app: WorkerApp) -> Recovery:
    """faust's recovery of ``app``'s tables (its table manager's, which faust types without it)."""
    tables = app.tables
    assert isinstance(tables, TableManager)
    return tables.recovery


def standby_behind(app: WorkerApp) -> int | None:
    """Changelog offsets the standby copies on this worker have still to read (None until the
    ends of their changelogs are known)."""
    recovery, behind = recovery_of(app), 0
    for tp in recovery.standby_tps:
        highwater = app.consumer.highwater(tp)
        if highwater is None:
            return None
        behind += max(0, highwater - 1 - recovery.standby_offsets.get(tp, -1))
    return behind


class Health(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.json({"status": "ok"})


class Ready(web.View):
    async def get(self, request: web.Request) -> web.Response:
        app = self.app
        assert isinstance(app, WorkerApp)  # the app the page was installed on
        recovered = recovery_of(app).completed.is_set()
        assignment = app.consumer.assignment()
        partitions = len(assignment)
        ready = recovered and not app.rebalancing and partitions > 0
        body: dict[str, object] = {
            "ready": ready,
            "recovered": recovered,
            "rebalancing": app.rebalancing,
            "partitions": partitions,
        }
        # the partitions whose customers this worker decides, and how far behind the standby
        # copies it keeps of others' are (0: a hand-over to it waits for no restore; None: not known yet)
        body["customer_partitions"] = sorted(tp.partition for tp in assignment if tp.topic == app.customer_topic)
        body["standby_behind"] = standby_behind(app)
        if (report := app.restore_progress.last) is not None:
            body["restore"] = report.as_json()  # the one under way, else the last one
        return self.json(body, status=200 if ready else 503)
