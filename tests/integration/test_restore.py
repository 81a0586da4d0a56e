"""A worker restores a compacted changelog with tens of thousands of gaps at a rate that does not
fall as the gaps pile up, and tells how far it has got while it restores.

faust merged every gap of a partition again at each new one: on a compacted changelog (a gap
between most records) a restore slowed from ~130 to ~11 records/s per partition and a worker
with 200,000 customers never came back (``streams/faust_fixes/gap_end.py``). Here a changelog
is built and compacted by the broker (as ``benchmarks/state.py`` does for 200,000 customers), a
worker restores it, and ``/ready`` is read as it goes.
"""

from __future__ import annotations

import itertools
import time
import urllib.error
import urllib.request

import orjson
from pydantic import TypeAdapter

from ctxi.benchmarks.state import compact_soon, compacted, context_records, produce
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.encoding import dumps_model
from ctxi.streams.topics import changelog_topic
from tests.integration.conftest import Namespace, WorkerFactory

CUSTOMERS = 40_000


def build_compacted_changelog(namespace: Namespace) -> tuple[int, int]:
    """Customers' contexts, three records each, interleaved, then compacted by the broker: a gap
    after most records. Returns the changelog's offsets and the records compaction kept."""
    settings = namespace.settings
    topic = changelog_topic(settings, "customer_context")
    compact_soon(settings, topic)
    sample = dumps_model(TypeAdapter(CustomerContext), CustomerContext(customer_id="C-1"), state=True)
    produce(settings, topic, context_records([sample], CUSTOMERS))
    return compacted(settings, topic, CUSTOMERS + 2 * settings.topic_partitions, timeout=120)


def rate_ratio(samples: list[tuple[float, int]], total: int) -> float:
    """The restore's rate over its last tenth of offsets against its first tenth, from (seconds, read) samples."""

    def seconds_at(read: int) -> float:  # interpolated between the samples around it
        for (t0, r0), (t1, r1) in itertools.pairwise(samples):
            if r0 <= read <= r1 and r1 > r0:
                return t0 + (t1 - t0) * (read - r0) / (r1 - r0)
        raise AssertionError(f"no samples around {read:,} offsets read: {samples}")

    first = seconds_at(total // 10) - seconds_at(0)
    last = seconds_at(total) - seconds_at(total - total // 10)
    return first / last


def test_a_compacted_changelog_restores_at_a_rate_that_does_not_fall(
    namespace: Namespace, run_worker: WorkerFactory
) -> None:
    offsets, kept = build_compacted_changelog(namespace)
    assert offsets - kept > 2 * CUSTOMERS - 100, (
        f"compaction left {kept:,} of {offsets:,} offsets: too few gaps to test"
    )

    worker = run_worker(Namespace(namespace.settings, {**namespace.env, "CTXI_RESTORE_REPORT_SECONDS": "0.2"}))
    ready_url = f"http://127.0.0.1:{worker.web_port}/ready"  # type: ignore[attr-defined]
    samples: list[tuple[float, int]] = []  # (seconds since the restore began, offsets read) as /ready says
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker exited"
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as response:
                body = orjson.loads(response.read())
        except urllib.error.HTTPError as error:  # 503 while restoring, with its progress
            body = orjson.loads(error.read())
        except OSError:
            time.sleep(0.1)
            continue
        restore = body.get("restore")
        if restore is not None and (not samples or restore["seconds"] > samples[-1][0]):
            samples.append((restore["seconds"], restore["read"]))
        if body["ready"]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"not ready after 300 s; restore progress seen: {samples[-5:]}")

    assert restore is not None and not restore["restoring"], body
    total = restore["read"]
    assert 0.9 * offsets <= total <= offsets, (total, offsets)  # all, but what went before the first look
    assert len(samples) >= 5, f"the restore was too quick to measure: {samples}"
    ratio = rate_ratio(samples, total)
    print(f"restored {total:,} offsets ({kept:,} records) in {restore['seconds']}s; last/first tenth rate {ratio:.2f}")
    assert ratio >= 0.5, f"the restore slowed down as gaps piled up: {samples}"
