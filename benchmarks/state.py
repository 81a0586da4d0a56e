"""State at a bank's size: how long a worker with N customers takes to come back, and what it holds.

For each size (``--customers 10000,50000,200000``) it builds the customers' state in a
namespace of its own (changelog records as a worker writes them: three per customer, as
three events each would, with contexts taken from a replay of the simulated stream), lets
the broker compact the changelog, then measures:

- a restart with the memory store: seconds until ``/ready``, the restore's rate, the RSS;
- a restart with RocksDB on an empty data dir (a new pod, a lost volume);
- a rebalance: two workers (RocksDB) with a standby replica each, one stopped: seconds until
  the other decides every partition's customers;
- SIGTERM: seconds until the worker has left;
- after each restart, one event: seconds until the customer's context has it (deciding again).

Not in CI (minutes per size). ``python -m ctxi.benchmarks.state`` with the dev stack up
(``ctxi devstack up``); results in docs/benchmarks.md ("State at a bank's size").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from ctxi.engine.replay import replay
from ctxi.engine.rows import EncodedRows
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.settings import EngineConfig, Settings, get_settings
from ctxi.simulate.evaluate import stop_gracefully, worker_ports
from ctxi.simulate.stream import SimulationSpec, simulate
from ctxi.streams.topics import catalogue, changelog_topic, ensure_topics

# the broker compacts a changelog's closed segments soon after they close
COMPACT_SOON = {"segment.ms": "1000", "min.cleanable.dirty.ratio": "0.001", "min.compaction.lag.ms": "0"}
RECORDS_PER_CUSTOMER = 3


def compact_soon(settings: Settings, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=COMPACT_SOON)])
    admin.close()


def produce(settings: Settings, topic: str, records: Iterable[tuple[bytes, bytes]]) -> int:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=20, batch_size=512 * 1024)
    count = 0
    for key, value in records:
        producer.send(topic, key=key, value=value)
        count += 1
    producer.flush()
    producer.close()
    return count


def compacted(settings: Settings, topic: str, most_records: int, timeout: float = 300.0) -> tuple[int, int]:
    """Roll the changelog's segments and wait until the broker has compacted it to at most
    ``most_records``; (offsets, records kept)."""
    time.sleep(1.5)  # past segment.ms: the next record closes the segment, so what is before can be compacted
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    for partition in range(settings.topic_partitions):
        producer.send(topic, key=b"C-roll", value=b'{"customer_id":"C-roll"}', partition=partition)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
    consumer.assign(partitions)
    offsets = sum(consumer.end_offsets(partitions).values())
    deadline = time.monotonic() + timeout  # the broker's log cleaner looks every 15 s
    while True:
        consumer.seek_to_beginning()
        kept = 0
        while batch := consumer.poll(timeout_ms=1000, max_records=50_000):
            kept += sum(len(records) for records in batch.values())
        if kept <= most_records:
            consumer.close()
            return offsets, kept
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker did not compact {topic} in {timeout:.0f} s: {kept:,} records left")
        time.sleep(5)


def sample_contexts(customers: int) -> list[bytes]:
    """Changelog records of a replay of the simulated stream (contexts of one to many events)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stream.jsonl"
        lines, _ = simulate(SimulationSpec(customers=customers))
        path.write_bytes(b"\n".join(lines) + b"\n")
        rules = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(get_settings().queues)))
        summary = replay([path], EngineConfig(), lambda enriched: None, lambda letter: None, rules=rules)
        assert isinstance(summary.contexts, EncodedRows)  # replay keeps rows encoded
        return [summary.contexts.encoded[key] for key in summary.contexts]


def context_records(samples: list[bytes], customers: int) -> Iterator[tuple[bytes, bytes]]:
    """Three records per customer, interleaved with others' as a day's events are: customer ``i``'s
    last record comes between others' earlier ones, so once compacted a gap follows most records.
    Each record is a sample context under the customer's id."""

    def record(number: int) -> tuple[bytes, bytes]:
        customer = f"B-{number:07d}".encode()
        sample = samples[number % len(samples)]
        original = orjson.loads(sample)["customer_id"].encode()
        return customer, sample.replace(b'"customer_id":"' + original + b'"', b'"customer_id":"' + customer + b'"')

    for step in range(customers + RECORDS_PER_CUSTOMER - 1):
        for behind in range(RECORDS_PER_CUSTOMER):  # the first record of one, the second of another, ...
            if 0 <= step - behind < customers:
                yield record(step - behind)


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    web_port: int
    log: Path
    started_at: float


def start_worker(env: dict[str, str], log: Path) -> Started:
    ports = worker_ports()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ctxi.cli", "worker"],
            env={**os.environ, **env, **ports, "CTXI_LOG_LEVEL": "info"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Started(process, int(ports["CTXI_WEB_PORT"]), log, time.monotonic())


def ready_body(worker: Started) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/ready", timeout=2) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return orjson.loads(error.read())
    except OSError:
        return None


def wait_ready(worker: Started, partitions: int, timeout: float) -> tuple[float, dict[str, object]]:
    """Seconds from ``worker.started_at`` until it is ready deciding ``partitions`` partitions' customers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"the worker exited; see {worker.log}")
        body = ready_body(worker)
        if body is not None and body["ready"] and len(body["customer_partitions"]) >= partitions:
            return time.monotonic() - worker.started_at, body
        time.sleep(0.2)
    raise RuntimeError(f"not ready after {timeout:.0f} s; see {worker.log}")


def wait_standbys(worker: Started, timeout: float) -> float:
    """Seconds until ``worker``'s standby copies of other workers' partitions have caught up."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        body = ready_body(worker)
        if body is not None and body.get("standby_behind") == 0:
            return time.monotonic() - started
        time.sleep(1)
    raise RuntimeError(f"standbys not caught up after {timeout:.0f} s; see {worker.log}")


def rss_mb(process: subprocess.Popen[bytes]) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def seconds_to_stop(worker: Started) -> float:
    started = time.monotonic()
    stop_gracefully(worker.process, grace=120)
    return time.monotonic() - started


def seconds_to_decide(settings: Settings, customer: str) -> float:
    """Send one check-in for ``customer``; seconds until their context, with it joined, is on the changelog."""
    event_id = f"bench-{uuid.uuid4().hex[:8]}"
    event = {
        "event_id": event_id,
        "type": "social.checkin",
        "customer_id": customer,
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "payload": {"network": "instagram", "location": {"lat": 48.8566, "lon": 2.3522, "city": "Paris"}},
    }
    topic = changelog_topic(settings, "customer_context")
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
    consumer.assign(partitions)
    consumer.seek_to_end()
    for partition in partitions:
        consumer.position(partition)  # looked up now: only what comes after counts
    started = time.monotonic()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    producer.send(settings.input_topic("social"), key=customer.encode(), value=orjson.dumps(event)).get(30)
    producer.close()
    while time.monotonic() - started < 120:
        for records in consumer.poll(timeout_ms=200).values():
            if any(record.value and event_id.encode() in record.value for record in records):
                consumer.close()
                return time.monotonic() - started
    raise RuntimeError(f"{customer}'s context did not take the event in 120 s")


def namespace(base: Settings, partitions: int) -> tuple[dict[str, str], Settings, Path]:
    """A world of its own (app id, topics, Redis keys) with its topics created: env, settings, data dir."""
    data = Path(tempfile.mkdtemp(prefix="ctxi-state-"))
    env = {
        **base.isolated_env(f"state{uuid.uuid4().hex[:6]}", data / "a"),
        "CTXI_TOPIC_PARTITIONS": str(partitions),
        "CTXI_RESTORE_REPORT_SECONDS": "1",
    }
    settings = Settings.from_env(env)
    ensure_topics(settings.kafka_bootstrap_servers, catalogue(settings))
    return env, settings, data


def empty_worker_mb(base: Settings, partitions: int, out: Path) -> float:
    """The RSS of a worker holding no customer: what the per-customer figures leave out."""
    env, _, _ = namespace(base, partitions)
    worker = start_worker(env, out / "empty.log")
    wait_ready(worker, partitions, 300)
    time.sleep(5)
    rss = rss_mb(worker.process)
    stop_gracefully(worker.process)
    return rss


def measure(
    customers: int,
    samples: list[bytes],
    base: Settings,
    partitions: int,
    out: Path,
    empty_mb: float,
    runs: set[str],
) -> list[str]:
    env, settings, data = namespace(base, partitions)
    topic = changelog_topic(settings, "customer_context")
    compact_soon(settings, topic)
    started = time.monotonic()
    written = produce(settings, topic, context_records(samples, customers))
    offsets, kept = compacted(settings, topic, customers + 2 * partitions)
    sizes = sorted(len(sample) for sample in samples)
    lines = [
        f"### {customers:,} customers",
        "",
        f"{written:,} changelog records written, compacted to {kept:,} of {offsets:,} offsets "
        f"({time.monotonic() - started:.0f} s); context records: median {statistics.median(sizes):,.0f} B, "
        f"{sum(sizes[i % len(sizes)] for i in range(customers)) / 1e6:,.0f} MB in all",
        "",
        f"| run | ready after | restore | RSS when ready | per customer (less an empty worker's {empty_mb:,.0f} MB) "
        "| SIGTERM to exit | event to context |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    customer = "B-0000001"

    def row(label: str, worker: Started, ready: tuple[float, dict[str, object]]) -> str:
        seconds, body = ready
        restore = body.get("restore") or {}
        rate = restore.get("per_second") if isinstance(restore, dict) else None
        rss = rss_mb(worker.process)
        decide = seconds_to_decide(settings, customer)
        stop = seconds_to_stop(worker)
        restored = f"{rate:,.0f} offsets/s" if rate else "-"
        per_customer = (rss - empty_mb) * 1024 / customers
        print(f"  {label}: ready {seconds:.1f} s, {restored}, RSS {rss:,.0f} MB", flush=True)
        return (
            f"| {label} | {seconds:.1f} s | {restored} | {rss:,.0f} MB | {per_customer:,.1f} KB | {stop:.1f} s "
            f"| {decide:.2f} s |"
        )

    for label, store in (("memory store", "memory://"), ("RocksDB, empty data dir", "rocksdb://")):
        if store.removesuffix("://") not in runs:
            continue
        worker = start_worker(
            {**env, "CTXI_STORE": store, "CTXI_DATA_DIR": str(data / store[:6])}, out / f"{label}.log"
        )
        lines.append(row(label, worker, wait_ready(worker, partitions, 900)))

    if "rebalance" not in runs:
        return lines
    # a rebalance: two workers, each with a standby of the other's partitions; the first leaves.
    # RocksDB: faust's memory store keeps no offsets, so a standby there is read again from the start
    pair = {**env, "CTXI_STORE": "rocksdb://", "CTXI_STANDBY_REPLICAS": "1"}
    first = start_worker({**pair, "CTXI_DATA_DIR": str(data / "first")}, out / "first.log")
    wait_ready(first, 1, 900)
    second = start_worker({**pair, "CTXI_DATA_DIR": str(data / "second")}, out / "second.log")
    wait_ready(second, 1, 900)
    caught_up = wait_standbys(second, 900)
    print(f"  the second worker's standby copies caught up {caught_up:.0f} s after it was ready", flush=True)
    stopped_at = time.monotonic()
    stop_gracefully(first.process, grace=120)
    second.started_at = stopped_at
    lines.append(
        row(
            "rebalance to a worker with standby replicas (RocksDB; from SIGTERM to the first)",
            second,
            wait_ready(second, partitions, 900),
        )
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", default="10000,50000,200000", help="sizes, comma-separated")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--runs", default="memory,rocksdb,rebalance", help="which runs, comma-separated")
    parser.add_argument("--samples", type=int, default=5_000, help="simulated customers whose contexts are copied")
    args = parser.parse_args()
    base = get_settings()
    out = Path(tempfile.mkdtemp(prefix="ctxi-bench-state-"))
    print(f"worker logs in {out}", flush=True)
    samples = sample_contexts(args.samples)
    empty_mb = empty_worker_mb(base, args.partitions, out)
    lines = []
    for customers in (int(size) for size in args.customers.split(",")):
        print(f"{customers:,} customers", flush=True)
        lines += [*measure(customers, samples, base, args.partitions, out, empty_mb, set(args.runs.split(","))), ""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
