"""A worker's Prometheus endpoint after a short run: the metrics listed, with real values;
and its liveness and readiness pages."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Namespace, WorkerFactory
from tests.integration.pipeline import Pipeline
from tests.integration.test_redis_sink import impossible_travel


def scrape(where: int | str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples at ``/metrics`` of a local port (a worker's) or a base URL (a gateway's)."""
    base = f"http://127.0.0.1:{where}" if isinstance(where, int) else where
    text = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_events_dead_letters_stages_rules_tasks_and_tables(
    namespace: Namespace, run_worker: WorkerFactory
) -> None:
    worker = run_worker(namespace)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=90)
    pipeline = Pipeline(namespace)
    try:
        for raw in impossible_travel("C-m", "gold", start):
            pipeline.feed(raw)
        bad = b'{"event_id": "bad-1", "type": "crm.interaction", "occurred_at": "2026-03-01T10:00:00"}'
        pipeline.producer.send(namespace.settings.input_topic("crm"), value=bad).get(timeout=30)
    finally:
        pipeline.close()
    deadline, metrics = time.monotonic() + 30, {}
    while time.monotonic() < deadline:
        metrics = scrape(worker.metrics_port)  # type: ignore[attr-defined]
        ready = [
            ("ctxi_table_keys", (("table", "customer_context"),)),
            ("ctxi_tasks_to_redis_total", (("result", "written"),)),
            ("ctxi_dead_letters_total", (("reason", "missing"),)),
        ]
        ready.append(next((key for key in metrics if key[0] == "ctxi_consumer_lag"), ("ctxi_consumer_lag", ())))
        if all(metrics.get(key, 0) >= 1 for key in ready):
            break
        time.sleep(1)

    def value(name: str, **labels: str) -> float:
        return metrics.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("ctxi_events_in_total", source="social", type="social.checkin") == 1
    assert value("ctxi_events_in_total", source="billing", type="billing.card_transaction") == 1
    assert value("ctxi_dead_letters_total", reason="missing") == 1  # the bad line has no customer_id, no payload
    for stage in ("ingest", "join", "enrich", "features", "decide", "deadlines", "sink"):  # the engine's steps by name
        assert value("ctxi_stage_seconds_count", stage=stage) >= 1, stage
        assert value("ctxi_stage_seconds_sum", stage=stage) > 0, stage
    assert value("ctxi_rules_fired_total", rule="fraud.impossible_travel", version="1") == 1
    assert value("ctxi_tasks_out_total", queue="fraud") == 1
    assert value("ctxi_event_to_task_seconds_count") == 1
    assert value("ctxi_tasks_to_redis_total", result="written") == 1
    assert value("ctxi_table_keys", table="customer_context") >= 1
    input_lag = [key for key in metrics if key[0] == "ctxi_consumer_lag" and dict(key[1])["topic"].endswith("crm")]
    assert input_lag, "no lag gauge for the input partitions"
    assert not any(v for key, v in metrics.items() if key[0] == "ctxi_partition_stalled")  # nothing is stuck


def test_the_worker_says_when_it_is_alive_and_ready(namespace: Namespace, run_worker: WorkerFactory) -> None:
    worker = run_worker(namespace)
    base = f"http://127.0.0.1:{worker.web_port}"  # type: ignore[attr-defined]
    deadline, ready = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        try:
            ready = orjson.loads(urllib.request.urlopen(f"{base}/ready", timeout=2).read())
            break
        except urllib.error.HTTPError as exc:  # 503 while it rebalances or recovers
            assert exc.code == 503
            assert orjson.loads(exc.read())["ready"] is False
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    assert ready is not None and ready["ready"] and ready["recovered"] and ready["partitions"] > 0
    assert orjson.loads(urllib.request.urlopen(f"{base}/health", timeout=2).read()) == {"status": "ok"}


def test_json_logs_carry_the_event_id_of_a_dead_letter(namespace: Namespace, run_worker: WorkerFactory) -> None:
    worker = run_worker(Namespace(namespace.settings, {**namespace.env, "CTXI_LOG_FORMAT": "json"}))
    bad = b'{"event_id": "bad-json-1", "type": "crm.interaction", "occurred_at": "2025-07-14T09:31:07"}'
    pipeline = Pipeline(namespace)
    pipeline.producer.send(namespace.settings.input_topic("crm"), value=bad).get(timeout=30)
    pipeline.close()
    deadline, lines = time.monotonic() + 60, []
    while time.monotonic() < deadline and not lines:
        text = worker.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
        lines = [orjson.loads(line) for line in text.splitlines() if '"bad-json-1"' in line]
        time.sleep(0.5)
    [line] = lines
    assert line["level"] == "warning" and line["event_id"] == "bad-json-1"
    assert line["message"].startswith("dead letter from ")
    assert "2025-07-14T09:31:07" not in text  # the reason names fields, never their values
