"""Run a simulated stream through ctxi, in process (replay) and on live workers, and collect
what it decided: the tasks as (customer, queue, action) and the count of dead letters."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ctxi.rules.evaluate import RuleSet
from ctxi.settings import EngineConfig, Settings
from ctxi.simulate.quality import TaskKey, disagreement, score
from ctxi.simulate.stream import GroundTruth
from ctxi.streams.machine import port_free
from ctxi.streams.topics import catalogue, ensure_topics

Progress = Callable[[str], None]


def replayed(path: Path, config: EngineConfig, rules: RuleSet) -> tuple[list[TaskKey], int]:
    """The tasks ``ctxi replay`` proposes on ``path`` (shadow rules' excluded) and its rejected lines."""
    from ctxi.engine.replay import replay

    tasks: list[TaskKey] = []
    summary = replay(
        [path],
        config,
        publish=lambda enriched: None,
        dead_letter=lambda letter: None,
        rules=rules,
        decide=lambda d: None if d.shadow else tasks.append((d.task.customer_id, d.task.queue, d.task.action)),
    )
    return tasks, summary.rejected


def send(
    lines: Iterable[bytes], settings: Settings, rate: float | None, progress: Progress | None = None
) -> list[tuple[bytes, float]]:
    """Produce ``lines`` to the input topics at ``rate`` lines/s (None: as fast as possible).

    Each goes to its source's topic keyed by customer (a line without a readable type goes
    to the first source's topic, to be dead-lettered there). Returns each line's event_id
    and the wall time it was sent, for latency measurements.
    """
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","), acks=1, linger_ms=5, batch_size=65536
    )
    fallback = settings.input_topic(settings.sources[0])
    for topic in settings.input_topics:
        # the first send to a topic waits for its metadata: learnt here, before the clock starts,
        # a rate's first events are not held back and then sent in one burst to catch up
        producer.partitions_for(topic)
    sent: list[tuple[bytes, float]] = []
    started = time.monotonic()
    last_report = started
    for number, line in enumerate(lines):
        if rate:
            ahead = started + number / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        topic, key, event_id = fallback, None, b""
        try:
            document = orjson.loads(line)
            source = document["type"].partition(".")[0]
            if source in settings.sources:
                topic = settings.input_topic(source)
            key = str(document.get("customer_id") or "").encode() or None
            event_id = str(document.get("event_id", "")).encode()
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            pass
        producer.send(topic, key=key, value=line)
        sent.append((event_id, time.time()))
        if progress and time.monotonic() - last_report >= 5:
            last_report = time.monotonic()
            progress(f"sent {number + 1:,} events ({(number + 1) / (last_report - started):,.0f}/s)")
    producer.flush()
    producer.close()
    return sent


@dataclass
class Collected:
    tasks: list[TaskKey] = field(default_factory=list)
    by_id: dict[str, TaskKey] = field(default_factory=dict)  # each task once, however often it was sent
    records: Counter[str] = field(default_factory=Counter)  # task records read per task_id
    dead_letters: int = 0


def collect(
    settings: Settings, done: Callable[[Collected], bool], quiet: float, timeout: float, progress: Progress | None
) -> Collected:
    """Read the task topics and the dead-letter topic from the start until ``done`` holds and
    nothing new came for ``quiet`` seconds, or ``timeout`` passed."""
    from kafka import KafkaConsumer

    topics = [settings.task_topic(queue) for queue in settings.queues]
    consumer = KafkaConsumer(
        *topics,
        settings.dead_letter_topic,
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",  # under exactly-once, what a crash aborted is not a task
    )
    collected, seen = Collected(), set()
    deadline = time.monotonic() + timeout
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    position = (record.topic, record.partition, record.offset)
                    if position in seen:
                        continue  # kafka-python may fetch a record again after a metadata change
                    seen.add(position)
                    last_new = time.monotonic()
                    if record.topic == settings.dead_letter_topic:
                        collected.dead_letters += 1
                        continue
                    task = orjson.loads(record.value)
                    key = (task["customer_id"], task["queue"], task["action"])
                    collected.tasks.append(key)
                    collected.by_id.setdefault(task["task_id"], key)
                    collected.records[task["task_id"]] += 1
            if done(collected) and time.monotonic() - last_new >= quiet:
                break
        else:
            if progress:
                progress(f"gave up waiting after {timeout:.0f}s: {len(collected.tasks)} tasks so far")
    finally:
        consumer.close()
    return collected


def wait_until_flowing(settings: Settings, timeout: float = 120.0) -> None:
    """Send a probe (a profile of a customer of its own) and wait until the worker publishes
    it enriched: then every stage runs, and what is sent next is handled in the order sent."""
    from kafka import KafkaConsumer, KafkaProducer

    probe_id = f"probe-{uuid.uuid4().hex[:8]}"
    probe = {
        "event_id": probe_id,
        "type": "crm.customer_profile",
        "customer_id": probe_id,
        "occurred_at": "2020-01-01T00:00:00Z",
        "payload": {"tier": "standard", "lifetime_value": 0.0},
    }
    consumer = KafkaConsumer(
        settings.signals_topic,
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), acks="all")
    producer.send(settings.input_topic("crm"), key=probe_id.encode(), value=orjson.dumps(probe)).get(timeout=30)
    producer.close()
    deadline, marker = time.monotonic() + timeout, probe_id.encode()
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                if any(marker in record.value for record in records):
                    return
    finally:
        consumer.close()
    raise TimeoutError(f"the worker did not process a probe event within {timeout:.0f}s")


def stop_gracefully(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM (a faust worker commits and leaves its group), then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class LiveWorker:
    settings: Settings  # the worker's own world
    process: subprocess.Popen[bytes]


def free_ports(count: int) -> list[int]:
    """``count`` different free loopback ports (all held at once: asked one by one, the
    kernel may hand out the same port twice)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def free_port() -> int:
    return free_ports(1)[0]


def worker_ports(slots: int = 4) -> dict[str, str]:
    """Environment giving ``ctxi worker`` processes free ports of their own for their web and metrics
    servers, with room for ``slots`` workers of one namespace (a later one takes the ports plus its
    slot, streams/machine.py). Chosen below the kernel's ephemeral range: a port from it, free when
    chosen, may be the local end of some outgoing connection by the time a later slot binds it."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    chooser = random.Random()
    for _ in range(1000):
        web = chooser.randrange(10_000, ephemeral_low - 2 * slots, slots)
        metrics = web + slots  # both blocks in one run of free ports: neither overlaps the other
        if all(port_free("127.0.0.1", port) for port in range(web, metrics + slots)):
            return {"CTXI_WEB_PORT": str(web), "CTXI_METRICS_PORT": str(metrics)}
    raise RuntimeError(f"no {2 * slots} free loopback ports in a row below {ephemeral_low}")


@contextmanager
def isolated_worker(
    base: Settings, log: Path, partitions: int = 4, settings_env: Mapping[str, str] | None = None
) -> Iterator[LiveWorker]:
    """A ``ctxi worker`` process in a world of its own (app id, topics, Redis keys) on the
    configured broker and Redis, with ``settings_env``'s ``CTXI_*`` variables on top (its
    guarantee, say), stopped on exit."""
    name = f"run{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="ctxi-run-") as data_dir:
        env = {
            **base.isolated_env(name, Path(data_dir)),
            "CTXI_TOPIC_PARTITIONS": str(partitions),
            **(settings_env or {}),
        }
        settings = Settings.from_env(env)
        ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "ctxi.cli", "worker"],
                env={**os.environ, **env, **worker_ports()},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            yield LiveWorker(settings, worker)
        finally:
            stop_gracefully(worker)


def evaluate_stream(
    path: Path,
    truth: GroundTruth,
    settings: Settings,
    rules: RuleSet,
    *,
    live: bool,
    rate: float,
    timeout: float,
    progress: Progress,
) -> tuple[list[str], bool]:
    """Score the stream at ``path`` in process and, if ``live``, on a worker of its own;
    the report's sections (Markdown) and whether everything passed."""
    tasks, rejected = replayed(path, settings.engine, rules)
    replay_report = score(truth, tasks, rejected)
    sections = [f"## Replay (in process)\n\n{replay_report.table()}"]
    passed = replay_report.passed
    if not live:
        return sections, passed
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    log = Path(tempfile.mkdtemp(prefix="ctxi-evaluate-")) / "worker.log"
    with isolated_worker(settings, log) as worker:
        progress(f"worker starting (log: {log})")
        wait_until_flowing(worker.settings)
        progress(f"worker running; sending {len(lines):,} lines at {rate:,.0f}/s")
        send(lines, worker.settings, rate, progress=progress)
        collected = collect(
            worker.settings,
            done=lambda c: len(c.tasks) >= len(tasks) and c.dead_letters >= truth.malformed,
            quiet=5.0,
            timeout=timeout,
            progress=progress,
        )
    live_report = score(truth, collected.tasks, collected.dead_letters)
    only_replay, only_live = disagreement(tasks, collected.tasks)
    agree = not only_replay and not only_live
    sections.append(f"## Live (a ctxi worker on Kafka)\n\n{live_report.table()}")
    sections.append(
        "## Replay and live\n\n"
        + (
            "identical: the same tasks (customer, queue, action)"
            if agree
            else f"DIFFERENT: only in replay {only_replay[:10]}, only live {only_live[:10]}"
        )
    )
    return sections, passed and live_report.passed and agree
