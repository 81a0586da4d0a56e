"""Liveness and readiness on the worker's web server (``CTXI_WEB_PORT``), for probes.

``/health`` answers while the worker's event loop runs. ``/ready`` answers 200 once the
worker holds partitions and has recovered their tables from the changelogs, 503 while it
rebalances or recovers: a load balancer or a rollout should wait for it.
"""

from __future__ import annotations

from faust import web

from ctxi.streams.app import app


@app.page("/health")
class Health(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.json({"status": "ok"})


@app.page("/ready")
class Ready(web.View):
    async def get(self, request: web.Request) -> web.Response:
        recovered = app.tables.recovery.completed.is_set()
        partitions = len(app.consumer.assignment())
        ready = recovered and not app.rebalancing and partitions > 0
        body = {"ready": ready, "recovered": recovered, "rebalancing": app.rebalancing, "partitions": partitions}
        return self.json(body, status=200 if ready else 503)
