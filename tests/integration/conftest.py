"""Run real ``ctxi worker`` processes against the session's broker, each in its own namespace."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

import orjson
import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer

from ctxi.gateway.auth import hash_token
from ctxi.gateway.server import build
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.settings import AgentAccess, EngineConfig, Settings
from ctxi.simulate.evaluate import Collected, collect, free_port, replayed, stop_gracefully, worker_ports
from ctxi.simulate.quality import TaskKey
from ctxi.simulate.stream import SimulationSpec, simulate
from ctxi.sinks.redis import RedisTaskStore, connect_redis
from ctxi.streams.topics import catalogue, ensure_topics


@dataclass(frozen=True)
class Namespace:
    """Settings for one test: its own consumer group and topics, so tests never see each other's data."""

    settings: Settings
    env: dict[str, str]


@pytest.fixture
def namespace(kafka_bootstrap_servers: str, redis_url: str, tmp_path: Path) -> Namespace:
    name = f"t{uuid.uuid4().hex[:10]}"
    base = Settings(kafka_bootstrap_servers=kafka_bootstrap_servers, redis_url=redis_url)
    env = {**base.isolated_env(name, tmp_path / "worker-data"), "CTXI_TOPIC_PARTITIONS": "2"}
    settings = Settings.from_env(env)
    shared = [spec.name for spec in catalogue(settings) if name not in spec.name]
    assert not shared, f"topics shared between tests: {shared}; name them in a *_topic setting"
    ensure_topics(kafka_bootstrap_servers, catalogue(settings))
    return Namespace(settings, env)


# desktop agents of the in-process gateway: two on the fraud queue, one on the travel queue
TOKENS = {
    "fraud-1": "fraud-token-1",
    "fraud-2": "fraud-token-2",
    "travel-1": "travel-token-1",
    "lead-1": "supervisor-token-1",
}
QUEUES = {"fraud-1": ["fraud"], "fraud-2": ["fraud"], "travel-1": ["travel"], "lead-1": ["fraud", "travel"]}
ROLES = {"lead-1": "supervisor"}


def auth(agent: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[agent]}"}


@pytest.fixture
async def gateway(namespace: Namespace) -> AsyncIterator[tuple[TestClient, RedisTaskStore]]:
    """The desktop gateway in process, for the agents above, and a store on its Redis."""
    settings = namespace.settings.model_copy(
        update={
            "agents": {
                a: AgentAccess(token_sha256=hash_token(t), queues=QUEUES[a], role=ROLES.get(a, "agent"))
                for a, t in TOKENS.items()
            }
        }
    )
    ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    client = TestClient(TestServer(build(settings)))
    await client.start_server()
    store = RedisTaskStore(connect_redis(settings.redis_url), settings.redis_prefix)
    yield client, store
    await client.close()
    await store.client.aclose()


class WorkerFactory(Protocol):
    def __call__(self, namespace: Namespace, ports: dict[str, str] | None = None) -> subprocess.Popen[bytes]: ...


class DesktopFactory(Protocol):
    def __call__(
        self,
        namespace: Namespace,
        agents: dict[str, tuple[str, list[str]]],
        supervisors: dict[str, tuple[str, list[str]]] | None = None,
        lookups: frozenset[str] = frozenset(),
    ) -> str: ...


def _stop(started: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Stop processes gracefully (SIGTERM, then SIGKILL) and show the end of their logs."""
    for process, log in started:
        stop_gracefully(process)
        sys.stderr.write(f"\n--- {log.name} (last 40 lines) ---\n")
        sys.stderr.write("\n".join(log.read_text(errors="replace").splitlines()[-40:]) + "\n")


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ctxi.cli", *command], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    process.log_path = log  # type: ignore[attr-defined]
    return process


@pytest.fixture
def run_worker(tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start ``ctxi worker`` processes; stop them at the end and show their logs."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(namespace: Namespace, ports: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A worker with ``ports`` (CTXI_WEB_PORT, CTXI_METRICS_PORT), by default free ones of its own.
        Workers running at once in one namespace share its state directory, as on one machine: the
        second takes the directory's next slot and its ports plus 1 (streams/machine.py), so its
        ``web_port`` and ``metrics_port`` below are the configured ones, not those it took."""
        log = tmp_path / f"worker-{len(started)}.log"
        ports = ports or worker_ports()
        env = {**os.environ, **namespace.env, **ports, "CTXI_LOG_LEVEL": "info"}
        process = _start(["worker"], env, log)
        process.metrics_port = int(ports["CTXI_METRICS_PORT"])  # type: ignore[attr-defined]
        process.web_port = int(ports["CTXI_WEB_PORT"])  # type: ignore[attr-defined]
        started.append((process, log))
        return process

    yield start
    _stop(started)


@pytest.fixture
def run_desktop(tmp_path: Path) -> Iterator[DesktopFactory]:
    """Start ``ctxi desktop`` as an operator does, for agents (and supervisors) given as
    ``{name: (token, queues)}``, those named in ``lookups`` with ``customer_lookup``.

    Returns the base URL once the gateway answers; the sweeper runs every 0.5 s so that
    deferred and expired tasks show and go within a test's patience.
    """
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(
        namespace: Namespace,
        agents: dict[str, tuple[str, list[str]]],
        supervisors: dict[str, tuple[str, list[str]]] | None = None,
        lookups: frozenset[str] = frozenset(),
    ) -> str:
        port = free_port()
        entries = {
            name: {
                "token_sha256": hash_token(token),
                "queues": queues,
                "role": role,
                "customer_lookup": name in lookups,
            }
            for role, people in (("agent", agents), ("supervisor", supervisors or {}))
            for name, (token, queues) in people.items()
        }
        env = {
            **os.environ,
            **namespace.env,
            "CTXI_DESKTOP_PORT": str(port),
            "CTXI_DESKTOP_SWEEP_SECONDS": "0.5",
            "CTXI_AGENTS": orjson.dumps(entries).decode(),
        }
        log = tmp_path / f"desktop-{len(started)}.log"
        process = _start(["desktop"], env, log)
        started.append((process, log))
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, f"ctxi desktop exited: {log.read_text(errors='replace')}"
            try:
                urllib.request.urlopen(f"{base_url}/healthz", timeout=2).read()
                return base_url
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"ctxi desktop did not answer within 60 s: {log.read_text(errors='replace')}")

    yield start
    _stop(started)


T = TypeVar("T")


async def until(condition: Callable[[], Awaitable[T]], what: str, timeout: float = 60.0) -> T:
    """``condition()``'s first truthy value, asked every 0.2 s; fails naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := await condition():
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def planted_stream(settings: Settings, path: Path, customers: int, seed: int) -> tuple[list[bytes], list[TaskKey]]:
    """A simulated stream of the last four hours (so tasks are current), written to ``path``,
    and the tasks the in-process engine makes of it: what the workers must deliver."""
    lines, _ = simulate(
        SimulationSpec(
            customers=customers, seed=seed, hours=4, start=datetime.now(UTC) - timedelta(hours=4), malformed_share=0
        )
    )
    path.write_bytes(b"\n".join(lines) + b"\n")
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(settings.queues)))
    expected, _ = replayed(path, EngineConfig(), rules)
    return lines, expected


def wait_for_a_first_task(settings: Settings) -> None:
    """Until a first task is on a task topic: the worker is busy with the stream."""
    assert collect(settings, done=lambda c: bool(c.by_id), quiet=0, timeout=30, progress=None).by_id, "no task yet"


def assert_each_task_once(settings: Settings, expected: list[TaskKey], label: str) -> Collected:
    """Every expected task reached its topic under one task_id, and Redis holds each once.

    A task may reach its topic more than once with the same task_id (at-least-once: a
    redone message sends again); that is printed, not failed: the sinks keep it once.
    """
    collected = collect(settings, done=lambda c: len(c.by_id) >= len(expected), quiet=5.0, timeout=180, progress=None)
    assert Counter(collected.by_id.values()) == Counter(expected), "tasks lost or made under a second id"
    repeated = sum(count - 1 for count in collected.records.values())
    print(f"{label}: {len(collected.by_id)} tasks, {repeated} repeated records (same task_id)")
    client = redis.Redis.from_url(settings.redis_url)
    deadline, in_redis = time.monotonic() + 60, 0
    while in_redis < len(expected) and time.monotonic() < deadline:  # the sink may still be catching up
        in_redis = sum(client.zcard(f"{settings.redis_prefix}:queue:{queue}") for queue in settings.queues)
        time.sleep(0.5)
    client.close()
    assert in_redis == len(expected), f"Redis holds {in_redis} tasks, expected {len(expected)}"
    return collected
