"""Real Kafka and Redis for the integration tests, as session-scoped fixtures.

Where they come from, in order:
1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL`` when both are set (``.ci/run`` sets them
   after ``ctxi devstack up``);
2. testcontainers, when a Docker engine answers with the images at hand (or a registry to pull them);
3. the project's own dev stack (``ctxi devstack``), started on free ports for this session.

When none of them can provide a service, the tests that need it are skipped locally
and fail in CI (``CI`` set): a missing broker must never pass silently there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctxi.devstack import DevStack, DevStackError
from ctxi.settings import Settings
from ctxi.simulate.evaluate import free_ports

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Services:
    kafka_bootstrap_servers: str
    redis_url: str


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing service is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


KAFKA_IMAGE, REDIS_IMAGE = "confluentinc/cp-kafka:7.9.0", "redis:7"  # cp-kafka 7.9 is Apache Kafka 3.9


def _docker_has_images() -> bool:
    """A Docker engine answers and holds the images or can pull them (a machine with an engine but
    no registry, as CI's, falls through to the dev stack)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        for image in (KAFKA_IMAGE, REDIS_IMAGE):
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                client.images.pull(image)
    except Exception:  # any failure means "no usable engine": fall through to the dev stack
        return False
    return True


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    bootstrap, redis_url = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("REDIS_URL")
    if bootstrap and redis_url:
        yield Services(bootstrap, redis_url)
    elif _docker_has_images():
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.redis import RedisContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka, RedisContainer(REDIS_IMAGE) as redis:
            host, port = redis.get_container_host_ip(), redis.get_exposed_port(6379)
            yield Services(kafka.get_bootstrap_server(), f"redis://{host}:{port}/0")
    else:
        with own_devstack(tmp_path_factory.mktemp("devstack")) as stack:
            yield Services(stack.kafka_address, stack.redis_url)


@contextmanager
def own_devstack(directory: Path) -> Iterator[DevStack]:
    """A dev stack (broker and Redis) of the caller's own on free ports, stopped at the end;
    unavailable (skipped locally, failed in CI) if it cannot start."""
    kafka_port, controller_port, redis_port = free_ports(3)
    settings = Settings(
        devstack_dir=directory,
        devstack_kafka_port=kafka_port,
        devstack_controller_port=controller_port,
        devstack_redis_port=redis_port,
    )
    stack = DevStack(settings)
    try:
        stack.up()
    except DevStackError as exc:
        stack.down()
        unavailable(f"no Kafka/Redis of our own: the dev stack could not start: {exc}")
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(services: Services) -> str:
    return services.kafka_bootstrap_servers


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    return services.redis_url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshots",
        metavar="DIR",
        default=None,
        help="save the desktop page's screenshots here (docs/images refreshes the README's); default: tmp",
    )
