"""The end-to-end benchmark behind ``ctxi bench``, on the real local broker and Redis.

1. **Engine alone**: the simulated stream through the in-process engine (the ``ctxi
   replay`` path, parsing included), median events/s of three runs, and a pyinstrument
   profile of one run.
2. **Sustained throughput**: the stream preloaded into the input topics, then one fresh
   worker started on it; its messages over the time from its first to its last published
   output (Kafka record times), and the process's CPU time over that span per message. The
   same for two **ceilings** that re-produce every message: a bare faust agent
   (``ceiling.py``) and plain aiokafka consuming in batches (``client_ceiling.py``); ctxi's
   figure is reported as a ratio of each. ctxi's worker runs as a deployment where nothing
   reads the signals topic would (``CTXI_PUBLISH_SIGNALS=false``); its outputs are the
   records of its customers' contexts, which every joined event writes. For it, the bytes
   its tables wrote to their changelogs, per event.
3. **Latency at offered rates**: a running worker gets streams at fixed rates (fractions
   of the sustained rate); each task's latency is from its triggering event's send to the
   task's ``added`` notice from Redis (the moment a desktop could show it): p50/p95/p99.
   Meanwhile the worker's CPU, peak RSS and consumer lag (committed offsets against the
   log end, every 0.5 s) are sampled.

Each run uses a world of its own (app id, topics, Redis keys), so results never mix.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from ctxi.engine.replay import replay
from ctxi.rules.evaluate import RuleSet
from ctxi.settings import Settings
from ctxi.simulate.evaluate import (
    LiveWorker,
    isolated_worker,
    send,
    stop_gracefully,
    wait_until_flowing,
    worker_ports,
)
from ctxi.simulate.stream import GroundTruth, SimulationSpec, simulate
from ctxi.streams.topics import TABLES, TopicSpec, catalogue, changelog_topic, ensure_topics

if TYPE_CHECKING:
    from kafka.consumer.fetcher import ConsumerRecord

try:
    import psutil
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError('ctxi bench needs psutil, matplotlib and pyinstrument: pip install "ctxi[bench]"') from exc

Progress = Callable[[str], None]

# the goals a run is held to (issue 30; docs/benchmarks.md): the report says which it met
ENGINE_GOAL = 25_000  # events/s: 40 µs an event
CONTEXT_GOAL_BYTES = 2048
P99_GOAL_MS = {"at_least_once": 100.0, "exactly_once": 1000.0}  # event to task, at half the sustained rate


@dataclass
class Sample:
    at: float  # seconds since the run started
    lag: int
    cpu_percent: float
    rss_mb: float


@dataclass
class RateRun:
    offered: float
    sent_per_second: float
    events: int
    tasks: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    cpu_percent: float
    peak_rss_mb: float
    max_lag: int
    samples: list[Sample] = field(default_factory=list)
    # event sent -> in its customer's view as the gateway reads it (sampled customers; None: not measured)
    view_p50_ms: float | None = None
    view_p99_ms: float | None = None
    guarantee: str = "at_least_once"  # the worker's CTXI_PROCESSING_GUARANTEE


@dataclass
class Sustained:
    """One sustained run of a worker on a preloaded backlog."""

    events_per_second: float
    cpu_us_per_event: float  # the process's CPU time (user and system) over the run, per message
    changelog_bytes_per_event: float | None = None  # ctxi's worker: keys and values its tables wrote


@dataclass
class BenchResults:
    customers: int
    events: int
    engine_events_per_second: list[float]
    context_bytes_median: float
    context_bytes_p95: float
    ctxi_runs: list[Sustained]
    ceiling_runs: list[Sustained]
    client_runs: list[Sustained]
    peer_runs: list[Sustained]  # none without .venv-peer
    runs: list[RateRun]
    command: str
    broker_topics: int  # on the broker when the bench started: many leftovers slow every figure

    @property
    def engine_median(self) -> float:
        return statistics.median(self.engine_events_per_second)

    @property
    def ctxi_events_per_second(self) -> float:
        return _median(self.ctxi_runs, "events_per_second")

    @property
    def ceiling_events_per_second(self) -> float:
        return _median(self.ceiling_runs, "events_per_second")

    @property
    def client_events_per_second(self) -> float:
        return _median(self.client_runs, "events_per_second")

    @property
    def peer_events_per_second(self) -> float | None:
        return _median(self.peer_runs, "events_per_second") if self.peer_runs else None

    @property
    def ratio(self) -> float:
        return self.ctxi_events_per_second / self.ceiling_events_per_second

    @property
    def client_ratio(self) -> float:
        return self.ctxi_events_per_second / self.client_events_per_second


def _median(runs: list[Sustained], figure: str) -> float:
    return statistics.median(getattr(run, figure) for run in runs)


def _stream(spec: SimulationSpec, directory: Path, name: str) -> tuple[Path, list[bytes], GroundTruth]:
    lines, truth = simulate(spec)
    path = directory / f"{name}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    (directory / f"{name}.truth.json").write_text(truth.model_dump_json(indent=2))
    return path, lines, truth


@dataclass
class EngineFigures:
    events_per_second: list[float]  # one per run
    joined: int  # events joined into a customer's context: each writes the context's changelog record
    context_bytes: list[int]  # each customer's stored context (what its changelog holds), sorted


def engine_throughput(path: Path, settings: Settings, rules: RuleSet, repeats: int = 3) -> EngineFigures:
    """The in-process engine over ``path``: events/s of each run, its output, its state size."""
    from faust.serializers import codecs

    from ctxi.agents.codecs import CONTEXT_CODEC

    rates = []
    for _ in range(repeats):
        summary = replay([path], settings.engine, lambda e: None, lambda d: None, rules=rules, decide=lambda d: None)
        rates.append(summary.events / summary.seconds)
    sizes = sorted(len(codecs.dumps(CONTEXT_CODEC, context)) for context in summary.contexts.values())
    return EngineFigures(rates, summary.outcomes["joined"], sizes)


def profile_engine(path: Path, settings: Settings, rules: RuleSet, out: Path) -> None:
    """A pyinstrument profile of one in-process run, as text."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    replay([path], settings.engine, lambda e: None, lambda d: None, rules=rules, decide=lambda d: None)
    profiler.stop()
    out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))


class Sampler(threading.Thread):
    """Every 0.5 s: the worker process's CPU and RSS, and its consumer group's lag: the messages past its
    committed offsets, which under at-least-once are committed every 2.8 s (a saw-tooth, not its
    backlog), under exactly-once every 0.1 s (its backlog, near enough)."""

    def __init__(self, settings: Settings, pid: int, topics: list[str]) -> None:
        super().__init__(daemon=True)
        self.settings, self.topics = settings, topics
        self.process = psutil.Process(pid)
        self.samples: list[Sample] = []
        self.stopping = threading.Event()

    def lag(self, admin, consumer) -> int:
        from kafka import TopicPartition

        partitions = [TopicPartition(t, p) for t in self.topics for p in (consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(partitions)
        committed = admin.list_group_offsets(self.settings.app_id).get(self.settings.app_id, {})
        return sum(max(0, end - (committed[tp].offset if tp in committed else 0)) for tp, end in ends.items())

    def run(self) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        servers = self.settings.kafka_bootstrap_servers.split(",")
        admin, consumer = KafkaAdminClient(bootstrap_servers=servers), KafkaConsumer(bootstrap_servers=servers)
        started = time.monotonic()
        self.process.cpu_percent(None)
        try:
            while not self.stopping.wait(0.5):
                with self.process.oneshot():
                    cpu, rss = self.process.cpu_percent(None), self.process.memory_info().rss / 2**20
                self.samples.append(Sample(time.monotonic() - started, self.lag(admin, consumer), cpu, rss))
        finally:
            admin.close()
            consumer.close()


def _record_times(
    settings: Settings, topic: str, expected: int, process: subprocess.Popen[bytes], timeout: float, quiet: float = 15.0
) -> tuple[list[int], list[tuple[float, float]]]:
    """Kafka record times (ms) on ``topic``: until ``expected`` records came, nothing new came
    for ``quiet`` seconds, or ``timeout`` passed; and the writer's CPU seconds meanwhile, as
    (wall time in ms, CPU seconds) at every poll. Fails at once if ``process`` (the writer) dies."""
    from kafka import KafkaConsumer

    writer = psutil.Process(process.pid)
    cpu: list[tuple[float, float]] = []

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",  # exactly-once: only what the worker committed
    )
    times: list[int] = []
    seen: set[tuple[int, int]] = set()
    deadline, last_new = time.monotonic() + timeout, time.monotonic()
    try:
        while len(times) < expected and time.monotonic() < deadline:
            if times and time.monotonic() - last_new > quiet:
                break
            if process.poll() is not None:
                raise RuntimeError(f"the worker writing {topic} exited with status {process.returncode}")
            try:
                used = writer.cpu_times()
            except psutil.NoSuchProcess:  # it exited since poll(): the check above says so next time round
                continue
            cpu.append((time.time() * 1000, used.user + used.system))
            for records in consumer.poll(timeout_ms=100).values():  # CPU sampled often: short runs too
                for record in records:
                    if (record.partition, record.offset) not in seen:
                        seen.add((record.partition, record.offset))
                        times.append(record.timestamp)
                        last_new = time.monotonic()
    finally:
        consumer.close()
    if len(times) < 2:
        raise TimeoutError(f"{topic}: {len(times)} records after {timeout:.0f}s; see the worker's log")
    return sorted(times), cpu


def _cpu_between(samples: list[tuple[float, float]], first_ms: float, last_ms: float) -> float:
    """CPU seconds from the last sample at or before ``first_ms`` to the first at or after ``last_ms``."""
    before = [used for at, used in samples if at <= first_ms] or [samples[0][1]]
    after = [used for at, used in samples if at >= last_ms] or [samples[-1][1]]
    return after[0] - before[-1]


def topic_records(settings: Settings, topics: list[str]) -> Iterator[ConsumerRecord]:
    """Every record now in ``topics`` (committed ones: exactly-once's aborted records left out)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        while any(consumer.position(partition) < end[partition] for partition in partitions):
            for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
                yield from records
    finally:
        consumer.close()


def _topic_bytes(settings: Settings, topics: list[str]) -> int:
    """The bytes of every key and value now in ``topics``."""
    return sum(len(record.key or b"") + len(record.value or b"") for record in topic_records(settings, topics))


# kind -> what it is, and the module it runs (ctxi's worker writes its customers' contexts;
# each ceiling to the topic its module's ``output_topic_name`` gives)
WORKERS = {
    "ctxi": ("ctxi worker", "ctxi.cli"),
    "ctxi-signals": ("ctxi worker publishing signals", "ctxi.cli"),
    "faust": ("bare faust ceiling", "ctxi.benchmarks.ceiling"),
    "faust-batch": ("bare faust ceiling, batches", "ctxi.benchmarks.ceiling"),
    "faust-producer": ("bare faust ceiling, batches to the producer", "ctxi.benchmarks.ceiling"),
    "faust-table": ("bare faust, a ~2 KB row per key in a faust table", "ctxi.benchmarks.ceiling"),
    "faust-buffer": ("bare faust, the rows written once a batch (write buffer)", "ctxi.benchmarks.ceiling"),
    "client": ("plain aiokafka ceiling", "ctxi.benchmarks.client_ceiling"),
    "peer": ("Quix Streams peer", "peer_quix.py"),
    "engine-in-peer": ("ctxi's engine in a Quix Streams app", "engine_in_peer.py"),
}
# The peer runs in a venv of its own (scripts/setup): Quix Streams pins an older pydantic than ctxi's.
PEER_PYTHON = Path(__file__).resolve().parents[1] / ".venv-peer" / "bin" / "python"
PEER_KINDS = ("peer", "engine-in-peer")


def peer_command(kind: str, settings: Settings, output: str, state_dir: Path) -> list[str]:
    """How a Quix Streams app of ``kind`` is started for ``settings``' run (its app id, input topics, broker)."""
    return [
        str(PEER_PYTHON),
        str(Path(__file__).resolve().with_name(WORKERS[kind][1])),
        *("--servers", settings.kafka_bootstrap_servers, "--app-id", settings.app_id, "--output", output),
        *("--state-dir", str(state_dir)),
        *settings.input_topics,
    ]


def sustained_throughput(
    base: Settings, lines: list[bytes], outputs: int, *, kind: str, logs: Path, progress: Progress
) -> Sustained:
    """A worker of ``kind`` (:data:`WORKERS`) started on a backlog of ``lines``, for which it
    publishes ``outputs`` messages: its messages/s, CPU per message, and (ctxi's) changelog bytes."""
    what, module = WORKERS[kind]
    ctxi, ceiling = kind.startswith("ctxi"), kind.startswith("faust")
    command = ["worker"] if ctxi else ["worker", "-l", "warn"] if ceiling else []
    name = f"bench{uuid.uuid4().hex[:8]}"
    env = {**base.isolated_env(name, logs / name), "CTXI_TOPIC_PARTITIONS": str(base.topic_partitions)}
    settings = Settings.from_env(env)
    if ceiling:
        env["CEILING_SENDS"] = kind.partition("-")[2] or "message"  # benchmarks/ceiling.py
    if ctxi:
        # the bench reads no signals: published only to measure what they cost (worker_sends.py)
        env["CTXI_PUBLISH_SIGNALS"] = "true" if kind == "ctxi-signals" else "false"
        output = changelog_topic(settings, "customer_context")
    elif kind in PEER_KINDS:
        output = f"{settings.app_id}.{kind}"
    else:
        output = import_module(module).output_topic_name(settings.app_id)
    ensure_topics(
        settings.kafka_bootstrap_servers,
        [*catalogue(settings), TopicSpec(output, settings.topic_partitions, settings.topic_replication_factor)],
    )
    send(lines, settings, rate=None)
    progress(f"{what}: {len(lines):,} messages preloaded; starting it")
    with (logs / f"{name}.log").open("wb") as log:
        if kind in PEER_KINDS:
            argv = peer_command(kind, settings, output, logs / name)
        else:
            argv = [sys.executable, "-m", module, *command]
        process = subprocess.Popen(
            argv,
            env={**os.environ, **env, **worker_ports()},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        times, cpu = _record_times(settings, output, outputs, process, timeout=600)
    except (RuntimeError, TimeoutError) as exc:
        tail = "\n".join((logs / f"{name}.log").read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{what}: {exc}; the end of its log:\n{tail}") from None
    finally:
        stop_gracefully(process)
    # From the first output to the last, the worker went through (nearly) the whole backlog:
    # ctxi's context records leave out duplicates and fleet-wide events, so outputs undercount it.
    seconds = (times[-1] - times[0]) / 1000
    rate = len(lines) / seconds
    cpu_us = _cpu_between(cpu, times[0], times[-1]) / len(lines) * 1e6
    changelog = None
    if ctxi:
        changelog = _topic_bytes(settings, [changelog_topic(settings, table) for table in TABLES]) / len(lines)
    short = f" (of {outputs:,} expected)" if len(times) < outputs else ""
    written = f", changelog {changelog:,.0f} B/event" if changelog is not None else ""
    progress(
        f"{what}: {len(lines):,} messages in {seconds:.1f}s ({len(times):,} outputs{short}): {rate:,.0f}/s, "
        f"CPU {cpu_us:,.0f} µs/message{written}"
    )
    return Sustained(rate, cpu_us, changelog)


class TaskNotices(threading.Thread):
    """When each task was announced ``added`` on the worker's Redis channels."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        import redis

        self.client = redis.Redis.from_url(settings.redis_url)
        self.prefix = settings.redis_prefix
        self.added: dict[str, float] = {}
        self.stopping = threading.Event()
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(f"{self.prefix}:notify:*")

    def run(self) -> None:
        while not self.stopping.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message is not None:
                notice = orjson.loads(message["data"])
                if notice.get("change") == "added":
                    self.added.setdefault(notice["task_id"], time.time())

    def triggering_events(self) -> dict[str, str]:
        """task_id -> the event that made it (the first of its evidence)."""
        ids = list(self.added)
        bodies = self.client.mget([f"{self.prefix}:task:{task_id}" for task_id in ids]) if ids else []
        return {task_id: orjson.loads(body)["evidence"][0] for task_id, body in zip(ids, bodies, strict=True) if body}


class ViewFreshness(threading.Thread):
    """When each event of a sample of customers first shows in their customer view: their
    timelines (what the gateway reads, sinks/customer_views.py) read every ``POLL_SECONDS``."""

    POLL_SECONDS = 0.025
    CUSTOMERS = 40  # sampled: reading every customer's timeline would load the machine under test

    def __init__(self, settings: Settings, lines: list[bytes]) -> None:
        super().__init__(daemon=True)
        import redis

        self.client = redis.Redis.from_url(settings.redis_url)
        customers: list[str] = []
        for line in lines:
            customer = orjson.loads(line).get("customer_id") if line.startswith(b"{") else None
            if isinstance(customer, str) and customer not in customers:
                customers.append(customer)
        self.customers = customers[:: max(1, len(customers) // self.CUSTOMERS)][: self.CUSTOMERS]
        self.keys = [f"{settings.redis_prefix}:timeline:{customer}" for customer in self.customers]
        self.shown: dict[str, float] = {}  # event_id -> when first seen in a view
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            pipe = self.client.pipeline(transaction=False)
            for key in self.keys:
                pipe.lrange(key, 0, 4)
            seen_at = time.time()
            for entries in pipe.execute():
                for entry in entries:
                    self.shown.setdefault(orjson.loads(entry)["event_id"], seen_at)
            time.sleep(self.POLL_SECONDS)


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def latency_run(
    worker: LiveWorker, lines: list[bytes], rate: float, progress: Progress, guarantee: str = "at_least_once"
) -> RateRun:
    settings = worker.settings
    notices = TaskNotices(settings)
    sampler = Sampler(settings, worker.process.pid, [*settings.input_topics, settings.events_by_customer_topic])
    views = ViewFreshness(settings, lines)
    notices.start()
    sampler.start()
    views.start()
    started = time.monotonic()
    sent = send(lines, settings, rate)
    sending = time.monotonic() - started
    quiet_since, count = time.monotonic(), 0
    while time.monotonic() - quiet_since < 5 and time.monotonic() - started < sending + 300:
        time.sleep(0.5)
        if len(notices.added) != count:
            count, quiet_since = len(notices.added), time.monotonic()
    sampler.stopping.set()
    notices.stopping.set()
    views.stopping.set()
    sampler.join()
    notices.join()
    views.join()
    sent_at: dict[str, float] = {}
    for event_id, at in sent:
        sent_at.setdefault(event_id.decode(), at)
    latencies = [
        (notices.added[task_id] - sent_at[event_id]) * 1000
        for task_id, event_id in notices.triggering_events().items()
        if event_id in sent_at
    ]
    freshness = [(at - sent_at[event_id]) * 1000 for event_id, at in views.shown.items() if event_id in sent_at]
    samples = sampler.samples
    run = RateRun(
        offered=rate,
        sent_per_second=len(lines) / sending,
        events=len(lines),
        tasks=len(latencies),
        p50_ms=_percentile(latencies, 0.50),
        p95_ms=_percentile(latencies, 0.95),
        p99_ms=_percentile(latencies, 0.99),
        cpu_percent=statistics.mean(s.cpu_percent for s in samples) if samples else 0.0,
        peak_rss_mb=max((s.rss_mb for s in samples), default=0.0),
        max_lag=max((s.lag for s in samples), default=0),
        samples=samples,
        view_p50_ms=_percentile(freshness, 0.50),
        view_p99_ms=_percentile(freshness, 0.99),
        guarantee=guarantee,
    )
    progress(
        f"{guarantee}, offered {rate:,.0f}/s: {run.tasks} tasks, "
        f"p50 {run.p50_ms or 0:.0f} ms, p99 {run.p99_ms or 0:.0f} ms, "
        f"CPU {run.cpu_percent:.0f}%, peak RSS {run.peak_rss_mb:.0f} MiB, max lag {run.max_lag:,}; "
        f"customer view p50 {run.view_p50_ms or 0:.0f} ms, p99 {run.view_p99_ms or 0:.0f} ms ({len(freshness)} events)"
    )
    return run


def latency_runs(
    base: Settings,
    offered: list[float],
    seconds_per_rate: float,
    logs: Path,
    progress: Progress,
    guarantee: str = "at_least_once",
) -> list[RateRun]:
    """One worker under ``guarantee`` (a fresh one, so the guarantees do not share a warm
    worker), sent a stream of its own at each ``offered`` rate in turn."""
    runs = []
    settings_env = {"CTXI_PROCESSING_GUARANTEE": guarantee}
    with isolated_worker(base, logs / f"latency-worker-{guarantee}.log", settings_env=settings_env) as worker:
        wait_until_flowing(worker.settings)
        for index, rate in enumerate(offered):
            # current times (tasks must not be born expired) and ids of their own per run
            events_wanted = rate * seconds_per_rate
            spec = SimulationSpec(
                customers=max(20, round(events_wanted / 5)),
                seed=200 + index,
                hours=4,
                start=datetime.now(UTC) - timedelta(hours=4),
                malformed_share=0,
            )
            run_lines, _ = simulate(spec)
            runs.append(latency_run(worker, run_lines, rate, progress, guarantee))
    return runs


def run_bench(
    base: Settings,
    rules: RuleSet,
    out: Path,
    *,
    customers: int,
    rates: list[float] | None,
    seconds_per_rate: float,
    repeats: int,
    command: str,
    progress: Progress,
    exactly_once: bool = True,
) -> BenchResults:
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    broker_topics = count_topics(base)
    if broker_topics > CLUTTERED_BROKER_TOPICS:
        progress(
            f"the broker holds {broker_topics:,} topics (leftovers of tests and earlier runs): every figure is "
            "slower and noisier on it; for figures to compare, start from a fresh stack "
            "(ctxi devstack down --wipe && ctxi devstack up)"
        )
    path, lines, truth = _stream(SimulationSpec(customers=customers, seed=101), out, "stream")
    engine = engine_throughput(path, base, rules, repeats)
    engine_rates = engine.events_per_second
    progress(f"engine alone: median {statistics.median(engine_rates):,.0f} events/s over {len(lines):,} lines")
    profile_engine(path, base, rules, out / "profile.txt")
    # alternated, so that a slow spell of the machine does not land on one side only
    sustained: dict[str, list[Sustained]] = {kind: [] for kind in WORKERS}
    kinds = ["client", "faust", "peer", "ctxi"]
    if not PEER_PYTHON.exists():
        kinds.remove("peer")
        progress(f"no peer: {PEER_PYTHON} is missing (scripts/setup makes it); the report leaves the peer out")
    for _ in range(repeats):
        for kind in kinds:
            outputs = engine.joined if kind == "ctxi" else len(lines)
            sustained[kind].append(sustained_throughput(base, lines, outputs, kind=kind, logs=logs, progress=progress))
    ctxi = _median(sustained["ctxi"], "events_per_second")
    offered = rates or [round(ctxi * share, -1) for share in (0.25, 0.5, 0.75)]
    runs = latency_runs(base, offered, seconds_per_rate, logs, progress)
    if exactly_once:  # the goal's rate: half the sustained one, or the middle of those given
        runs += latency_runs(base, [offered[len(offered) // 2]], seconds_per_rate, logs, progress, "exactly_once")
    results = BenchResults(
        customers=customers,
        events=truth.events,
        engine_events_per_second=engine_rates,
        context_bytes_median=statistics.median(engine.context_bytes),
        context_bytes_p95=engine.context_bytes[int(0.95 * (len(engine.context_bytes) - 1))],
        ctxi_runs=sustained["ctxi"],
        ceiling_runs=sustained["faust"],
        client_runs=sustained["client"],
        peer_runs=sustained["peer"],
        runs=runs,
        command=command,
        broker_topics=broker_topics,
    )
    figures = {
        **asdict(results),
        "engine_median": results.engine_median,
        "ctxi_events_per_second": results.ctxi_events_per_second,
        "ceiling_events_per_second": results.ceiling_events_per_second,
        "client_events_per_second": results.client_events_per_second,
        "ratio": results.ratio,
        "client_ratio": results.client_ratio,
        "peer_events_per_second": results.peer_events_per_second,
    }
    (out / "results.json").write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    plot(results, out / "latency.png")
    return results


def plot(results: BenchResults, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, lag) = plt.subplots(1, 2, figsize=(11, 4.2))
    at_least_once = [run for run in results.runs if run.guarantee == "at_least_once"]
    rates = [run.offered for run in at_least_once]
    for share, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        latency.plot(rates, [getattr(run, share) or 0 for run in at_least_once], marker="o", label=label)
    for run in results.runs:
        if run.guarantee == "exactly_once":
            latency.plot(
                [run.offered], [run.p99_ms or 0], marker="x", linestyle="", color="black", label="exactly-once p99"
            )
    goal_ms = P99_GOAL_MS["at_least_once"]
    latency.axhline(goal_ms, color="grey", linestyle="--", linewidth=1, label=f"target p99 {goal_ms:,.0f} ms")
    latency.set(xlabel="offered events/s", ylabel="event to task in Redis (ms)", title="Latency by offered rate")
    latency.legend()
    for run in results.runs:
        guarantee = " exactly-once" if run.guarantee == "exactly_once" else ""
        lag.plot([s.at for s in run.samples], [s.lag for s in run.samples], label=f"{run.offered:,.0f}/s{guarantee}")
    lag.set(xlabel="seconds into the run", ylabel="consumer lag (messages)", title="Consumer lag")
    lag.legend()
    figure.suptitle(
        f"ctxi end to end: {results.ctxi_events_per_second:,.0f} events/s sustained "
        f"({results.ratio:.0%} of bare faust); engine alone {results.engine_median:,.0f}/s"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# Measured on the development machine: a broker holding ~3,000 leftover topics gave event->task
# p99 660-960 ms at 200 events/s where a fresh one gave 200-420 ms (docs/benchmarks.md).
CLUTTERED_BROKER_TOPICS = 500


def count_topics(settings: Settings) -> int:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","))
    try:
        return len(consumer.topics())
    finally:
        consumer.close()


@dataclass(frozen=True)
class Goal:
    """One of the figures ``ctxi bench`` is held to (docs/benchmarks.md), and how this run did."""

    name: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run


def _half_rate_run(results: BenchResults, guarantee: str) -> RateRun | None:
    """The run of ``guarantee`` offered closest to half the sustained rate."""
    runs = [run for run in results.runs if run.guarantee == guarantee and run.p99_ms is not None]
    half = results.ctxi_events_per_second / 2
    return min(runs, key=lambda run: abs(run.offered - half), default=None)


def _latency_goal(results: BenchResults, guarantee: str, limit_ms: float) -> Goal:
    name = f"p99 event to task, {guarantee.replace('_', '-')}, about half the sustained rate"
    run = _half_rate_run(results, guarantee)
    if run is None:
        return Goal(name, f"≤ {limit_ms:,.0f} ms", "not measured", None)
    assert run.p99_ms is not None
    return Goal(name, f"≤ {limit_ms:,.0f} ms", f"{run.p99_ms:,.0f} ms at {run.offered:,.0f}/s", run.p99_ms <= limit_ms)


def goals(results: BenchResults) -> list[Goal]:
    """The run's figures against the goals the engine and the worker are held to."""
    cpu_ratio = _median(results.ctxi_runs, "cpu_us_per_event") / _median(results.ceiling_runs, "cpu_us_per_event")
    return [
        Goal(
            "engine alone (replay path, built-in packs)",
            f"≥ {ENGINE_GOAL:,} events/s",
            f"{results.engine_median:,.0f} events/s",
            results.engine_median >= ENGINE_GOAL,
        ),
        Goal("ctxi worker / bare faust, events/s", "≥ 80%", f"{results.ratio:.0%}", results.ratio >= 0.8),
        Goal("CPU an event, ctxi worker / bare faust", "≤ 1.25x", f"{cpu_ratio:.2f}x", cpu_ratio <= 1.25),
        *(_latency_goal(results, guarantee, limit_ms) for guarantee, limit_ms in P99_GOAL_MS.items()),
        Goal(
            "context state per customer, median",
            f"≤ {CONTEXT_GOAL_BYTES:,} B",
            f"{results.context_bytes_median:,.0f} B",
            results.context_bytes_median <= CONTEXT_GOAL_BYTES,
        ),
    ]


def report(results: BenchResults) -> str:
    """The results as Markdown tables."""
    lines = [
        f"Command: `{results.command}`",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| engine alone (replay path), median of {len(results.engine_events_per_second)} | "
        f"{results.engine_median:,.0f} events/s |",
        f"| context state per customer (stored bytes), median / p95 | "
        f"{results.context_bytes_median:,.0f} / {results.context_bytes_p95:,.0f} |",
        f"| ctxi worker, sustained (one process, CTXI_PUBLISH_SIGNALS=false), median of {len(results.ctxi_runs)} | "
        f"{results.ctxi_events_per_second:,.0f} events/s |",
        f"| bare faust agent, same broker (ceiling), median of {len(results.ceiling_runs)} | "
        f"{results.ceiling_events_per_second:,.0f} events/s |",
        f"| plain aiokafka, batches, same broker (client ceiling), median of {len(results.client_runs)} | "
        f"{results.client_events_per_second:,.0f} events/s |",
        f"| ctxi / ceiling | {results.ratio:.0%} |",
        f"| ctxi / client ceiling | {results.client_ratio:.0%} |",
        *_peer_rows(results),
        "| CPU per event: ctxi worker / bare faust / plain aiokafka (µs) | "
        + " / ".join(
            f"{_median(runs, 'cpu_us_per_event'):,.0f}"
            for runs in (results.ctxi_runs, results.ceiling_runs, results.client_runs)
        )
        + " |",
        f"| changelog bytes written per event (ctxi worker) | "
        f"{_median(results.ctxi_runs, 'changelog_bytes_per_event'):,.0f} |",
        f"| topics on the broker when the bench started | {results.broker_topics:,} |",
        "",
        "| guarantee | offered events/s | sent/s | tasks | p50 ms | p95 ms | p99 ms | customer view p50 / p99 ms "
        "| worker CPU | peak RSS MiB | max lag to committed offsets |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results.runs:
        lines.append(
            f"| {run.guarantee.replace('_', '-')} | {run.offered:,.0f} | {run.sent_per_second:,.0f} | {run.tasks} "
            f"| {_ms(run.p50_ms)} | {_ms(run.p95_ms)} | {_ms(run.p99_ms)} "
            f"| {_ms(run.view_p50_ms)} / {_ms(run.view_p99_ms)} "
            f"| {run.cpu_percent:.0f}% | {run.peak_rss_mb:.0f} | {run.max_lag:,} |"
        )
    lines += ["", "| goal | target | this run | met |", "|---|---|---:|---|"]
    for goal in goals(results):
        met = "not measured" if goal.met is None else "yes" if goal.met else "**no**"
        lines.append(f"| {goal.name} | {goal.target} | {goal.measured} | {met} |")
    return "\n".join(lines)


def _peer_rows(results: BenchResults) -> list[str]:
    """The peer's rows: what a user would build instead, on the same broker and stream."""
    peer = results.peer_events_per_second
    if peer is None:
        return ["| Quix Streams peer | not run (no .venv-peer: scripts/setup) |"]
    return [
        f"| Quix Streams 3.28 app, per-customer state in RocksDB, JSON in and out (peer), median of "
        f"{len(results.peer_runs)} | {peer:,.0f} events/s |",
        f"| ctxi / peer | {results.ctxi_events_per_second / peer:.0%} |",
        f"| CPU per event, peer (µs) | {_median(results.peer_runs, 'cpu_us_per_event'):,.0f} |",
    ]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"
