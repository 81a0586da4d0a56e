"""Issue 30's latency experiment: where, and when, an event's way to a task takes its time.

A ``ctxi worker`` gets a stream at a fixed rate, as ``ctxi bench``'s latency runs give it;
for every task announced on Redis, the way from its triggering event's send is cut at the
Kafka record times the worker's own sends carry:

- **decide**: from the send to the task's record on its task topic (the input topic, the
  worker's fetch, validation, the engine, the send); an event about a flight goes through the
  by-customer topic twice on the way (keyed by flight, then a copy for each booked customer);
- **deliver**: from there to the task's ``added`` notice on Redis (the task topic's fetch,
  the Redis write and publish).

The slowest tasks are listed with when their events were sent, and the slowest task of each
second of the run. Record times are the moment the worker handed a record to its producer,
on the same machine's clock as the send and the notice. Under exactly-once only committed
records are read, and a task reaches a reader only when its transaction commits, which
``deliver`` then includes. Needs the dev stack::

    CTXI_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 CTXI_REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m ctxi.benchmarks.latency_hops --rate 300 --seconds 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from ctxi.benchmarks.endtoend import TaskNotices, _percentile, topic_records
from ctxi.settings import Settings, get_settings
from ctxi.simulate.evaluate import isolated_worker, send, wait_until_flowing
from ctxi.simulate.stream import SimulationSpec, simulate

HOPS = ("decide", "deliver", "total")


@dataclass(frozen=True)
class TaskWay:
    """One task's way: its triggering event and when it was sent (s), and its hops (ms)."""

    task_id: str
    event_id: str
    sent_at: float
    hops: dict[str, float]


def ways(sent_at: dict[str, float], tasks: dict[str, tuple[float, str]], added: dict[str, float]) -> list[TaskWay]:
    """Each announced task's hops, from its triggering event's send time (s), the task's record time
    and triggering event (s, event id) and its notice time (s). A task missing a point (its event
    sent before the run, or never announced) is left out."""
    found = []
    for task_id, (task_at, event_id) in tasks.items():
        if task_id not in added or event_id not in sent_at:
            continue
        sent, announced = sent_at[event_id], added[task_id]
        hops = {"decide": (task_at - sent) * 1000, "deliver": (announced - task_at) * 1000}
        found.append(TaskWay(task_id, event_id, sent, {**hops, "total": (announced - sent) * 1000}))
    return found


def task_records(settings: Settings) -> dict[str, tuple[float, str]]:
    """Task id -> (its first record time on a task topic, the event that made it)."""
    tasks: dict[str, tuple[float, str]] = {}
    for record in topic_records(settings, [settings.task_topic(queue) for queue in settings.queues]):
        task = orjson.loads(record.value)
        tasks.setdefault(task["task_id"], (record.timestamp / 1000, task["evidence"][0]))
    return tasks


def measure(base: Settings, rate: float, seconds: float, runs: int, logs: Path) -> list[tuple[list[TaskWay], float]]:
    """``runs`` streams one after another, each ``seconds`` long at ``rate``, through one worker:
    each run's tasks' ways, and when its first event was sent (s)."""
    sent_runs: list[list[tuple[bytes, float]]] = []
    with isolated_worker(base, logs / "worker.log") as worker:
        settings = worker.settings
        wait_until_flowing(settings)
        notices = TaskNotices(settings)
        notices.start()
        for index in range(runs):
            spec = SimulationSpec(
                customers=max(20, round(rate * seconds / 5)),
                seed=200 + index,
                hours=4,
                start=datetime.now(UTC) - timedelta(hours=4),  # current times: tasks must not be born expired
                malformed_share=0,
            )
            lines, _ = simulate(spec)
            print(f"run {index + 1}: sending {len(lines):,} events at {rate:,.0f}/s (worker log: {logs}/worker.log)")
            sent_runs.append(send(lines, settings, rate, progress=print))
            quiet_since, count = time.monotonic(), 0
            while time.monotonic() - quiet_since < 5:
                time.sleep(0.5)
                if len(notices.added) != count:
                    count, quiet_since = len(notices.added), time.monotonic()
        notices.stopping.set()
        notices.join()
        tasks = task_records(settings)
    found = []
    for sent in sent_runs:
        sent_at: dict[str, float] = {}
        for event_id, at in sent:
            sent_at.setdefault(event_id.decode(), at)
        found.append((ways(sent_at, tasks, notices.added), sent[0][1]))
    return found


def report(found: list[TaskWay], title: str, started: float) -> None:
    """A run's hops, and its slowest tasks (sent ``started``: its first event's send)."""
    if not found:
        print(f"\n{title}: no task was announced: see the worker's log")
        return
    print(f"\n{title}: {len(found):,} tasks; ms\n")
    print("| hop | p50 | p95 | p99 | max |")
    print("|---|---:|---:|---:|---:|")
    for hop in HOPS:
        values = [way.hops[hop] for way in found]
        quantiles = [_percentile(values, share) or 0.0 for share in (0.5, 0.95, 0.99)]
        print(f"| {hop} | {' | '.join(f'{value:,.0f}' for value in quantiles)} | {max(values):,.0f} |")
    by_second: dict[int, float] = {}
    for way in found:
        second = int(way.sent_at - started)
        by_second[second] = max(by_second.get(second, 0.0), way.hops["total"])
    print(
        "\nthe slowest task of each second of the run (ms): "
        + ", ".join(f"{second}s {by_second[second]:,.0f}" for second in sorted(by_second))
    )
    slowest = sorted(found, key=lambda way: way.hops["total"])[-max(5, len(found) // 100) :]
    print(
        "\nthe slowest, by their events' sends (s into the run): "
        + ", ".join(
            f"{way.sent_at - started:.1f} ({way.hops['total']:,.0f} ms)"
            for way in sorted(slowest, key=lambda w: w.sent_at)
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=300, help="Offered events/s.")
    parser.add_argument("--seconds", type=float, default=20, help="Length of each run.")
    parser.add_argument("--runs", type=int, default=2, help="Runs one after another through one worker.")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="ctxi-latency-hops-"))
    measured = measure(get_settings(), args.rate, args.seconds, args.runs, logs)
    for index, (found, started) in enumerate(measured, start=1):
        report(found, f"run {index} of {args.runs} at {args.rate:,.0f} events/s offered", started)


if __name__ == "__main__":
    main()
