"""Whatever command meets a service out of reach or a bad setting, the user reads one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kafka.errors import KafkaConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError

from ctxi.cli.errors import failure_line
from ctxi.settings import get_settings


def test_a_bad_setting_is_one_line_naming_the_variable() -> None:
    env = {**os.environ, "CTXI_TOPIC_PARTITIONS": "many"}
    result = subprocess.run(
        [sys.executable, "-m", "ctxi.cli", "topics", "create"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: CTXI_TOPIC_PARTITIONS: Input should be a valid integer, unable to parse string as an integer"
    ]


def test_redis_out_of_reach_names_the_url() -> None:
    message, code = failure_line(RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."))
    assert code == 1
    assert message.startswith(f"Redis at {get_settings().redis_url} failed: Error 111")


@pytest.mark.parametrize("exc", [ZeroDivisionError("a bug"), KeyError("also a bug")])
def test_a_bug_keeps_its_traceback(exc: Exception) -> None:
    assert failure_line(exc) is None


def test_kafka_errors_name_the_configured_servers() -> None:
    message, code = failure_line(KafkaConnectionError("no broker answered"))
    assert (code, message.split(" failed")[0]) == (1, f"Kafka at {get_settings().kafka_bootstrap_servers}")
