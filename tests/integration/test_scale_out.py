"""Two workers in one group, one of them stopped mid-stream: nothing lost, nothing duplicated.

The stream is a simulated one with known expected tasks (the in-process engine's). A worker
stopped with SIGTERM commits, leaves the group at once, and the survivor takes its
partitions over, recovers their tables from the changelogs and carries on. No task may be
lost or made under a second id, and Redis must hold each exactly once.

Not yet here: SIGKILL. Tried, it lost a task: the killed worker's context changelog
already held the card payment (so the survivor's recovered context calls the reprocessed
event a duplicate) while the task it made had not left the producer. That needs the
changelog, the outputs and the offsets to commit together (exactly-once) or a join that
re-emits what a reprocessed event decided; it is the next step of this work.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from kafka import KafkaAdminClient

from ctxi.engine.config import EngineConfig
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.loader import load_rule_dir
from ctxi.simulate.evaluate import collect, replayed, send, wait_until_flowing
from ctxi.simulate.stream import SimulationSpec, simulate
from tests.integration.conftest import Namespace, WorkerFactory


def wait_for_members(bootstrap: str, group: str, count: int, timeout: float = 90.0) -> None:
    """Until the consumer group is stable with ``count`` members (the partitions are shared)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            state = admin.describe_groups([group])[group]
            if state["group_state"] == "Stable" and len(state["members"]) == count:
                return
            time.sleep(0.5)
    finally:
        admin.close()
    raise AssertionError(f"group {group} did not become stable with {count} members")


def test_a_stopped_worker_hands_its_partitions_over_and_no_task_is_lost_or_doubled(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    settings = namespace.settings
    group = Namespace(settings, {**namespace.env, "CTXI_SESSION_TIMEOUT_SECONDS": "10"})
    survivor, stopped = run_worker(group), run_worker(group)
    wait_for_members(settings.kafka_bootstrap_servers, settings.app_id, 2)
    wait_until_flowing(settings)

    lines, _ = simulate(
        SimulationSpec(customers=120, seed=31, hours=4, start=datetime.now(UTC) - timedelta(hours=4), malformed_share=0)
    )
    stream = tmp_path / "stream.jsonl"
    stream.write_bytes(b"\n".join(lines) + b"\n")
    expected, _ = replayed(stream, EngineConfig(), RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(settings.queues))))

    half = len(lines) // 2
    send(lines[:half], settings, rate=300)
    stopped.send_signal(signal.SIGTERM)
    stopped.wait(timeout=60)
    send(lines[half:], settings, rate=300)
    collected = collect(
        settings, done=lambda c: len(set(c.task_ids)) >= len(expected), quiet=5.0, timeout=150, progress=None
    )
    assert survivor.poll() is None, "the surviving worker died"

    distinct = Counter(collected.tasks[:0])
    seen: set[str] = set()
    for task_id, key in zip(collected.task_order, collected.tasks, strict=True):
        if task_id not in seen:
            seen.add(task_id)
            distinct[key] += 1
    assert distinct == Counter(expected), "tasks lost or made twice under different ids"
    # At-least-once: around a rebalance the new owner may redo what the old one had sent but
    # not yet committed, so a task can reach its topic again, with the same task_id (seen
    # here: 0 in some runs, 23 repeated records of 35 tasks in another). Readers key by task_id.

    client = redis.Redis.from_url(settings.redis_url)
    deadline, in_redis = time.monotonic() + 60, 0
    while in_redis < len(expected) and time.monotonic() < deadline:  # the sink may still be catching up
        in_redis = sum(client.zcard(f"{settings.redis_prefix}:queue:{queue}") for queue in settings.queues)
        time.sleep(0.5)
    client.close()
    assert in_redis == len(expected)  # each task once, however often it was written
