"""The README's quick start, run as a newcomer runs it: its own commands, in its order.

The commands are read from README.md's "Quick start" (so an edit that breaks the story
breaks this test) and run in a shell from the repository's root, on a dev stack of
their own (ports and directory given through CTXI_* variables: the commands' text is
the README's). What the README promises is checked against what they do: the replay's
fraud priority, the exit statuses, the dead letters, the task on tasks.fraud, and the
tasks the desktop API lists after the desktop step.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from ctxi.ingest import read_jsonl
from ctxi.schemas.dead_letter import DeadLetter
from ctxi.schemas.events import SOURCES
from ctxi.settings import Settings
from ctxi.simulate.evaluate import free_ports, wait_until_flowing
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
QUICK_START = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```bash\n(.*?)```", QUICK_START, re.DOTALL)
NUMBERS = {"six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def commands(block: str) -> list[str]:
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def block_with(text: str) -> list[str]:
    [block] = [block for block in BLOCKS if text in block]
    return commands(block)


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    """The README's defaults everywhere (topic names, app id, Redis prefix), but a stack of its own."""
    kafka, controller, redis_port, web, metrics, desktop = free_ports(6)
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("CTXI_")},
        "CTXI_DEVSTACK_DIR": str(tmp_path / "devstack"),
        "CTXI_DEVSTACK_KAFKA_PORT": str(kafka),
        "CTXI_DEVSTACK_CONTROLLER_PORT": str(controller),
        "CTXI_DEVSTACK_REDIS_PORT": str(redis_port),
        "CTXI_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
        "CTXI_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CTXI_DATA_DIR": str(tmp_path / "worker-data"),
        "CTXI_WEB_PORT": str(web),
        "CTXI_METRICS_PORT": str(metrics),
        "CTXI_DESKTOP_PORT": str(desktop),
    }


def run(command: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """In the background; bash runs a lone command in its own place, so a signal reaches it."""
    with log.open("wb") as out:
        return subprocess.Popen(["bash", "-c", command], cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_the_quick_start_gives_what_it_promises(demo_env: dict[str, str], tmp_path: Path) -> None:
    settings = Settings.from_env({key: value for key, value in demo_env.items() if key.startswith("CTXI_")})
    background: list[subprocess.Popen[bytes]] = []
    try:
        # "Try it first, in one process"
        [first] = block_with("ctxi replay examples/scenarios.jsonl")
        replayed = run(first, demo_env)
        assert replayed.returncode == 0, replayed.stderr[-2000:]
        tasks = [orjson.loads(line) for line in replayed.stdout.splitlines() if line.startswith("{")]
        [fraud] = [task for task in tasks if task["queue"] == "fraud"]
        promised = re.search(r"\(fraud, priority (\d+)\)", QUICK_START)
        assert promised and fraud["priority"] == int(promised.group(1))
        assert "examples/scenarios.jsonl:" in replayed.stderr  # the bad lines, reported as file:line

        # "Run the main job": the worker runs in the foreground, so in the background here
        [main_job] = block_with("scripts/run-local")
        background.append(start(main_job, demo_env, tmp_path / "run-local.log"))
        ready = f"http://127.0.0.1:{settings.web_port}/ready"  # setup, the stack, then the worker
        wait_for(lambda: urllib.request.urlopen(ready, timeout=2).status == 200, "the worker", timeout=300)
        wait_until_flowing(settings)

        # "In a second terminal, feed it events"
        feeding = block_with("ctxi events produce examples/scenarios.jsonl")
        produced = [command for command in feeding if " produce " in command]
        for command in produced:
            done = run(command, demo_env)
            assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
        wait_until_flowing(settings)  # a human reads the next commands meanwhile
        tails = {command: run(command, demo_env) for command in feeding if command not in produced}
        assert all(result.returncode == 0 for result in tails.values())
        fraud_tail = next(result.stdout for command, result in tails.items() if "tasks.fraud" in command)
        assert '"customer_id":"C-1001"' in fraud_tail and f'"priority":{fraud["priority"]}' in fraud_tail
        letters = next(result.stdout for command, result in tails.items() if "dead_letters" in command)
        # every bad line sent (--topic sends all of bad-events; a scenario line needs a readable source)
        sent_bad = sum(
            isinstance(record.outcome, DeadLetter) and (path.name == "bad-events.jsonl" or routable(record.raw))
            for path in (REPO_ROOT / "examples" / "bad-events.jsonl", REPO_ROOT / "examples" / "scenarios.jsonl")
            for record in read_jsonl(path)
        )
        assert len(letters.splitlines()) == sent_bad

        # "Open the agent desktop": a token, the gateway started by the printed line, the morning
        desktop = block_with("ctxi desktop token")
        token_output = run(desktop[0], demo_env)
        assert token_output.returncode == 0, token_output.stderr
        token = re.search(r"\(shown once\): (\S+)", token_output.stdout).group(1)  # type: ignore[union-attr]
        gateway_line = token_output.stdout.strip().splitlines()[-1]
        assert gateway_line.startswith("CTXI_AGENTS='")
        background.append(start(gateway_line, demo_env, tmp_path / "gateway.log"))
        base = f"http://127.0.0.1:{settings.desktop_port}"
        wait_for(lambda: urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200, "the gateway")
        for command in desktop[1:]:
            done = run(command, demo_env)
            assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"

        promised_count = NUMBERS[re.search(r"work the queue: (\w+) tasks", QUICK_START).group(1)]  # type: ignore[union-attr]

        def listed() -> list[dict]:
            return [
                task for queue in settings.queues for task in api(f"{base}/api/queues/{queue}/tasks", token)["tasks"]
            ]

        wait_for(lambda: len(listed()) >= promised_count, f"{promised_count} tasks on the desktop", timeout=60)
        time.sleep(3)  # nothing more arrives
        on_desktop = listed()
        assert len(on_desktop) == promised_count, [(t["customer_id"], t["title"]) for t in on_desktop]
        assert any(t["queue"] == "fraud" and t["customer_id"] == "C-1001" for t in on_desktop)
    finally:
        for process in background:  # Ctrl-C, as the README's reader does
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        [down] = block_with("ctxi devstack down")
        stopped = run(down, demo_env)
    assert stopped.returncode == 0, stopped.stderr


def routable(raw: bytes) -> bool:
    try:
        event_type = orjson.loads(raw).get("type")
    except (orjson.JSONDecodeError, AttributeError):
        return False
    return isinstance(event_type, str) and event_type.partition(".")[0] in SOURCES


def api(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    return orjson.loads(urllib.request.urlopen(request, timeout=5).read())


def wait_for(condition, what: str, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout:.0f}s for {what}")
