"""The Docker deployment of docs/operations.md, run as written: the ctxi image built, the compose
stack (Kafka, Redis, two workers, the gateway, Prometheus) started and healthy, the morning's
events sent, its tasks read from the desktop API, every worker scraped, the stack stopped.

The commands are read from the page's "Docker and Kubernetes" section and run in a shell from the
repository's root, so an edit that breaks them breaks this test. The host's ports and, where no
image registry answers, the images are the compose file's variables (CTXI_COMPOSE_*): the images
are then built from Debian's packages by scripts/container-images. What CI cannot run of the
section's commands is in ``NOT_RUN`` with why; a command neither run nor listed there fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import orjson
import pytest

from ctxi.simulate.evaluate import free_ports
from tests.conftest import REPO_ROOT, unavailable

SECTION = (REPO_ROOT / "docs" / "operations.md").read_text().split("## Docker and Kubernetes", 1)[1].split("\n## ")[0]
COMPOSE_BLOCK, KUBERNETES_BLOCK = re.findall(r"```bash\n(.*?)```", SECTION, re.DOTALL)

NO_CLUSTER = (
    "needs a Kubernetes cluster, and a kind or minikube cluster needs node images from a registry; "
    "the manifests are validated against Kubernetes 1.32's schemas instead (tests/unit/test_project_files.py)"
)
NOT_RUN = {
    "docker build -t ctxi:latest .": (
        "pulls python:3.11-slim and reaches PyPI from the build's own network, and this machine has no image "
        "registry and no NAT for containers: the same Dockerfile is built as ctxi:latest by `docker compose up "
        "--build` below, on a Python base from Debian's packages, with the host's network"
    ),
    "kind load docker-image ctxi:latest": NO_CLUSTER,
    "kubectl apply -f deploy/kubernetes/ctxi.yaml": NO_CLUSTER,
    "kubectl rollout status statefulset/ctxi-worker": NO_CLUSTER,
    "kubectl scale statefulset/ctxi-worker --replicas=4": NO_CLUSTER,
}
T = TypeVar("T")
PUBLIC_IMAGE_PROBE = "apache/kafka:3.9.1"  # the compose file's default Kafka image


def commands(block: str) -> list[str]:
    """A block's commands without their trailing comments."""
    lines = (line.split("  #")[0].strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def command_starting(block: str, start: str) -> str:
    [command] = [command for command in commands(block) if command.startswith(start)]
    return command


TOKEN_COMMAND = command_starting(COMPOSE_BLOCK, ".venv/bin/ctxi desktop token")
AGENTS_EXPORT = command_starting(COMPOSE_BLOCK, "export CTXI_AGENTS=")
UP = command_starting(COMPOSE_BLOCK, "docker compose up")
PRODUCE = command_starting(COMPOSE_BLOCK, ".venv/bin/ctxi events produce")
READ_TASKS = command_starting(COMPOSE_BLOCK, "curl")
DOWN = command_starting(COMPOSE_BLOCK, "docker compose down")


def test_every_command_of_the_section_is_run_here_or_says_why_not() -> None:
    run_here = {TOKEN_COMMAND, AGENTS_EXPORT, UP, PRODUCE, READ_TASKS, DOWN}
    for command in commands(COMPOSE_BLOCK) + commands(KUBERNETES_BLOCK):
        assert command in run_here or command in NOT_RUN, (
            f"docs/operations.md: {command!r} is neither run nor explained"
        )
    for command, why in NOT_RUN.items():
        sys.stderr.write(f"not run here: {command}: {why}\n")


def shell(command: str, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        command, shell=True, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def local_images(env: dict[str, str]) -> dict[str, str]:
    """The compose file's image variables: none where the public images can be pulled, else those
    scripts/container-images builds from Debian's packages."""
    if subprocess.run(["docker", "pull", "-q", PUBLIC_IMAGE_PROBE], capture_output=True, check=False).returncode == 0:
        return {}
    built = subprocess.run(
        ["bash", "scripts/container-images"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        unavailable(f"no registry, and scripts/container-images could not build the images:\n{built.stderr[-2000:]}")
    return dict(re.findall(r"^export (CTXI_COMPOSE_\w+)=(\S+)$", built.stdout, re.MULTILINE))


@pytest.fixture
def compose_env() -> Iterator[dict[str, str]]:
    """The environment the section's commands run in: a compose project of its own on free ports."""
    if reason := os.environ.get("CTXI_CONTAINERS_UNAVAILABLE"):
        pytest.skip(f"CI could not start a Docker engine here: {reason}")  # .ci/run printed why
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        unavailable("no Docker engine answers ('bash scripts/docker-engine' installs and starts one)")
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        unavailable("no Compose v2 ('docker compose'): 'bash scripts/docker-engine' builds its plugin")
    kafka, redis, desktop, prometheus = free_ports(4)
    env = {key: value for key, value in os.environ.items() if not key.startswith("CTXI_")}
    env |= {
        "COMPOSE_PROJECT_NAME": f"ctxi-test-{uuid.uuid4().hex[:8]}",
        "CTXI_COMPOSE_KAFKA_PORT": str(kafka),
        "CTXI_COMPOSE_REDIS_PORT": str(redis),
        "CTXI_COMPOSE_DESKTOP_PORT": str(desktop),
        "CTXI_COMPOSE_PROMETHEUS_PORT": str(prometheus),
        "CTXI_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",  # the CLI's default is the stack's default port
    }
    env |= local_images(env)
    yield env


def get_json(url: str, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
        return orjson.loads(response.read())


def queue_tasks(desktop: str, queue: str, token: str) -> list[dict]:
    return get_json(f"{desktop}/api/queues/{queue}/tasks", token)["tasks"]


def eventually(check: Callable[[], T | None], what: str, timeout: float = 90) -> T:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            if (found := check()) is not None:
                return found
        except OSError as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"{what} within {timeout:.0f} s; last: {last}")


def test_the_compose_stack_runs_the_morning_to_tasks_on_the_desktop_api(compose_env: dict[str, str]) -> None:
    env = compose_env
    printed = shell(TOKEN_COMMAND, env)
    token = re.search(r"\(shown once\): (\S+)", printed).group(1)  # type: ignore[union-attr]
    env["CTXI_AGENTS"] = re.search(r"CTXI_AGENTS='(.*?)'", printed).group(1)  # type: ignore[union-attr]
    try:
        shell(UP, env, timeout=1200)
        shell(PRODUCE, env)
        desktop = f"http://127.0.0.1:{env['CTXI_COMPOSE_DESKTOP_PORT']}"
        path = re.search(r"localhost:8080(/\S+)", READ_TASKS).group(1)  # type: ignore[union-attr]

        def the_morning() -> list[dict] | None:
            tasks = [task for queue in ("fraud", "travel", "service") for task in queue_tasks(desktop, queue, token)]
            return tasks if len(tasks) >= 8 else None

        tasks = eventually(the_morning, "the morning's eight tasks on the desktop API")
        assert len(tasks) == 8, [task["title"] for task in tasks]  # the ninth is deferred 13 minutes
        fraud = get_json(desktop + path, token)["tasks"]
        first = fraud[0]  # most urgent first
        assert (first["title"], first["priority"]) == ("Verify card activity: Paris", 89)

        prometheus = f"http://127.0.0.1:{env['CTXI_COMPOSE_PROMETHEUS_PORT']}/api/v1/targets"

        def all_scraped() -> list[tuple[str, str]] | None:
            targets = [(t["labels"]["app"], t["health"]) for t in get_json(prometheus)["data"]["activeTargets"]]
            return (
                sorted(targets) if sorted(targets) == [("ctxi-gateway", "up"), *[("ctxi-worker", "up")] * 2] else None
            )

        eventually(all_scraped, "Prometheus scraping both workers and the gateway")
    except BaseException:
        logs = subprocess.run(
            "docker compose logs --no-color --tail 40",
            shell=True,
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        sys.stderr.write(logs.stdout[-20000:])
        raise
    finally:
        shell(DOWN, env)
