"""The worker's web server (``/health``, ``/ready``) and its restore watch start before the
table restore, not after it.

faust starts an app's web server, timers and tasks only once its tables are restored. A
worker restoring for minutes then refused its liveness probe: Kubernetes, after six
failures a minute apart, killed it and the restore began again, for ever; and nothing said
how far the restore had got. ctxi's web server serves no table (``/health``, and ``/ready``
which answers 503 while restoring), so it can start first; the watches in
:attr:`RestoreWatchedApp.before_restore` start with it (``agents/health.py``: progress in the
log, in metrics and in ``/ready``). Timers and tasks still wait for the restore.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust

from ctxi.streams.faust_fixes import FaustName

RELIES_ON = (
    FaustName(faust.App, "on_started", "(self)"),
    FaustName(faust.App, "_wait_for_table_recovery_completed", "(self)"),
    FaustName(faust.App, "on_started_init_web_server", "(self)"),
    FaustName(faust.App, "on_started_init_extra_tasks", "(self)"),
    FaustName(faust.App, "on_started_init_extra_services", "(self)"),
    FaustName(faust.App, "on_startup_finished", None),
)


class RestoreWatchedApp(faust.App):
    """faust's App, serving its web pages and running :attr:`before_restore` while tables restore."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_restore: list[Callable[[], Awaitable[None]]] = []

    async def on_started(self) -> None:
        # faust's on_started, with the web server and the watches moved before the wait
        await self.on_started_init_web_server()
        for watch in self.before_restore:
            self.add_future(watch())
        if not await self._wait_for_table_recovery_completed():
            await self.on_started_init_extra_tasks()
            await self.on_started_init_extra_services()
            if self.on_startup_finished:
                await self.on_startup_finished()
