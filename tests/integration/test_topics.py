"""``ctxi topics create`` and ``describe`` on the real broker: every topic, its settings, its lag."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer

from ctxi.settings import Settings
from tests.integration.conftest import Namespace


def ctxi(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctxi.cli", *args], env={**os.environ, **env}, capture_output=True, text=True
    )


def test_describe_shows_every_topic_with_its_settings_messages_and_group_lag(namespace: Namespace) -> None:
    settings = namespace.settings
    topic = settings.input_topic("crm")
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    for number in range(5):
        producer.send(topic, key=b"C-1", value=f"message {number}".encode()).get(timeout=30)
    producer.close()
    group = f"{settings.app_id}-reader"
    consumer = KafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group, auto_offset_reset="earliest"
    )
    read = []
    while len(read) < 2:
        read += [record for records in consumer.poll(1000, max_records=2 - len(read)).values() for record in records]
    consumer.commit()
    consumer.close()

    result = ctxi(namespace.env, "topics", "describe", "--partitions")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    [crm] = [line for line in lines if line.startswith(topic + " ")]
    assert crm.split()[1:4] == ["2", "1", "5"]  # partitions, replicas, messages
    assert any(f"lag of group {group}: 3 (p0 " in line for line in lines)
    changelog = next(line for line in lines if line.startswith(f"{settings.app_id}-customer_context-changelog"))
    assert changelog.endswith("cleanup.policy=compact")
    dead = next(line for line in lines if line.startswith(settings.dead_letter_topic))
    assert dead.endswith("retention.ms=2592000000")


def test_describe_says_which_topics_are_missing_and_create_makes_them(namespace: Namespace, tmp_path: Path) -> None:
    fresh = Settings(kafka_bootstrap_servers=namespace.settings.kafka_bootstrap_servers)
    env = fresh.isolated_env(f"t{uuid.uuid4().hex[:10]}", tmp_path)
    missing = ctxi(env, "topics", "describe")
    assert missing.returncode == 1 and "MISSING" in missing.stdout
    created = ctxi(env, "topics", "create")
    assert created.returncode == 0 and "created" in created.stdout
    again = ctxi(env, "topics", "create")
    assert "created" not in again.stdout.replace("exists", "")  # idempotent: everything exists
    assert ctxi(env, "topics", "describe").returncode == 0


def test_a_broker_out_of_reach_is_one_line_naming_it() -> None:
    """Any command meeting a broker it cannot reach says so in one line (ctxi/cli/errors.py)."""
    result = ctxi({"CTXI_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, "topics", "describe")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: Kafka at 127.0.0.1:1 failed: ")
    assert line.endswith("(is it up? ctxi devstack status)")
