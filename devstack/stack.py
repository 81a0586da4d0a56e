"""The local dev stack: a real single-node Kafka (KRaft) and a real redis-server on loopback.

No Docker needed: the Kafka jars come from Maven Central through ``devstack/pom.xml``
and run on the machine's Java; Redis is the distribution's ``redis-server``. Data, logs
and pid files live under ``CTXI_DEVSTACK_DIR`` (default ``.devstack/``); the jars are
cached under ``CTXI_DEVSTACK_CACHE_DIR`` and shared by every checkout.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from ctxi.settings import Settings

PACKAGE_DIR = Path(__file__).resolve().parent
POM = PACKAGE_DIR / "pom.xml"


SERVICES = ("kafka", "redis")


def kafka_cluster_id(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A cluster id as Kafka's own ``random-uuid`` makes them: 16 random bytes, URL-safe base64,
    never starting with '-' (StorageTool would read it as an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(random_bytes(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class DevStackError(RuntimeError):
    """The stack could not be brought up; the message says what to do."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    pid: int | None
    ready: bool

    def __str__(self) -> str:
        state = "ready" if self.ready else ("starting or unhealthy" if self.pid else "stopped")
        pid = f"pid {self.pid}" if self.pid else "no process"
        return f"{self.name:<6} {self.address:<28} {state} ({pid})"


class DevStack:
    """Start, stop and inspect the local Kafka broker and Redis server."""

    def __init__(self, settings: Settings, echo: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.echo = echo
        self.root = settings.devstack_dir.resolve()
        self.log_dir = self.root / "logs"
        self.kafka_address = f"127.0.0.1:{settings.devstack_kafka_port}"
        self.redis_url = f"redis://127.0.0.1:{settings.devstack_redis_port}/0"
        self._started: dict[str, subprocess.Popen[bytes]] = {}

    # --- public ----------------------------------------------------------------------

    def up(self) -> None:
        """Start whatever is not running yet and wait until both services answer."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started = []
        try:
            for name, start in (("redis", self._start_redis), ("kafka", self._start_kafka)):
                if self._pid(name) is None:
                    started.append(name)
                    start()
            self._wait_ready()
        except BaseException:
            self.stop(*started)  # a failed start leaves nothing of its own running
            raise
        self.echo(f"dev stack ready: KAFKA_BOOTSTRAP_SERVERS={self.kafka_address} REDIS_URL={self.redis_url}")

    def down(self, wipe: bool = False) -> None:
        """Stop both services (SIGTERM, then SIGKILL after a grace period); ``wipe`` deletes their data."""
        self.stop(*SERVICES)
        if wipe and self.root.exists():
            shutil.rmtree(self.root)
            self.echo(f"removed {self.root}")

    def stop(self, *names: str) -> None:
        """Stop the named services ("kafka", "redis"), keeping their data: ``up`` starts them again
        as they were (the failure tests take the broker or Redis away this way)."""
        unknown = [name for name in names if name not in SERVICES]
        if unknown:
            raise DevStackError(f"unknown service {unknown[0]!r}; the dev stack runs {', '.join(SERVICES)}")
        for name in names:
            self._stop(name)

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus("kafka", self.kafka_address, self._pid("kafka"), self._kafka_ready()),
            ServiceStatus("redis", self.redis_url, self._pid("redis"), self._redis_ready()),
        ]

    # --- Kafka -----------------------------------------------------------------------

    def kafka_libs(self) -> Path:
        """The directory of the broker's jars, fetched by Maven on first use."""
        digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
        libs = self.settings.devstack_cache_dir.expanduser().resolve() / f"kafka-libs-{digest}"
        if (libs / ".complete").exists():
            return libs
        mvn = _require("mvn", "Maven fetches the Kafka jars: apt-get install maven")
        partial = libs.with_name(libs.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        self.echo(f"fetching the Kafka jars with Maven into {libs} (once per pom.xml version)...")
        fetched = subprocess.run(
            [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={partial}"],
            capture_output=True,
            text=True,
        )
        if fetched.returncode != 0:
            raise DevStackError(f"mvn could not fetch the Kafka jars:\n{_tail(fetched.stdout + fetched.stderr)}")
        (partial / ".complete").touch()
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        return libs

    def _start_kafka(self) -> None:
        java = _require("java", "the broker runs on Java 17+: apt-get install openjdk-17-jre-headless")
        port, controller_port = self.settings.devstack_kafka_port, self.settings.devstack_controller_port
        _ensure_free(port, "Kafka", "CTXI_DEVSTACK_KAFKA_PORT")
        _ensure_free(controller_port, "the Kafka controller", "CTXI_DEVSTACK_CONTROLLER_PORT")
        classpath = f"{self.kafka_libs()}/*"
        kafka_dir = self.root / "kafka"
        data_dir = kafka_dir / "data"
        kafka_dir.mkdir(parents=True, exist_ok=True)
        properties = kafka_dir / "server.properties"
        properties.write_text(
            (PACKAGE_DIR / "server.properties")
            .read_text()
            .format(kafka_port=port, controller_port=controller_port, data_dir=data_dir)
        )
        log4j = kafka_dir / "log4j.properties"
        log4j.write_text((PACKAGE_DIR / "log4j.properties").read_text().format(log_file=self.log_dir / "kafka.log"))
        jvm = [
            java,
            "-Xms128m",
            f"-Xmx{self.settings.devstack_kafka_heap}",
            "-XX:+UseSerialGC",  # two cores: no parallel GC threads competing with the workers
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp",
            classpath,
        ]
        if not (data_dir / "meta.properties").exists():
            formatted = subprocess.run(
                [*jvm, "kafka.tools.StorageTool", "format", "-t", kafka_cluster_id(), "-c", str(properties)],
                capture_output=True,
                text=True,
            )
            if formatted.returncode != 0:
                raise DevStackError(
                    f"formatting the Kafka storage failed:\n{_tail(formatted.stdout + formatted.stderr)}"
                )
        self._spawn("kafka", [*jvm, "kafka.Kafka", str(properties)])

    def _kafka_ready(self) -> bool:
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.kafka_address, request_timeout_ms=3000)
        except KafkaError:
            return False
        try:
            return bool(admin.describe_cluster().get("brokers"))
        except KafkaError:
            return False
        finally:
            admin.close()

    # --- Redis -----------------------------------------------------------------------

    def _start_redis(self) -> None:
        server = _require("redis-server", "apt-get install redis-server")
        port = self.settings.devstack_redis_port
        _ensure_free(port, "Redis", "CTXI_DEVSTACK_REDIS_PORT")
        data_dir = self.root / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn(
            "redis",
            [
                server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(data_dir),
                "--appendonly",
                "yes",  # a restarted Redis keeps its tasks, as in production
                "--save",
                "",
                "--daemonize",
                "no",
            ],
        )

    def _redis_ready(self) -> bool:
        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    # --- processes -------------------------------------------------------------------

    def _pid_file(self, name: str) -> Path:
        return self.root / f"{name}.pid"

    def _log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.out"

    def _spawn(self, name: str, command: list[str]) -> None:
        self.echo(f"starting {name}: logs in {self._log_file(name)}")
        with self._log_file(name).open("ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._pid_file(name).write_text(str(process.pid))
        self._started[name] = process

    def _exited(self, name: str) -> bool:
        # A process just spawned may not have exec'd yet, so ask Popen rather than /proc.
        if name in self._started:
            return self._started[name].poll() is not None
        return self._pid(name) is None

    def _pid(self, name: str) -> int | None:
        """The pid of our running ``name`` process, if any (a stale pid file is ignored)."""
        try:
            pid = int(self._pid_file(name).read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        marker = b"kafka.Kafka" if name == "kafka" else b"redis-server"
        return pid if marker in cmdline and not _is_zombie(pid) else None

    def _stop(self, name: str, grace_seconds: float = 30.0) -> None:
        # A process this object spawned is asked through Popen: just spawned, it may not
        # have exec'd yet (its /proc cmdline is still ours), and a SIGTERM then can be lost
        # to the handler it inherited, so the signal is repeated until it ends.
        process = self._started.pop(name, None)
        pid = process.pid if process is not None else self._pid(name)

        def running() -> bool:
            return process.poll() is None if process is not None else self._pid(name) is not None

        if pid is None or not running():
            self.echo(f"{name}: not running")
        else:
            self.echo(f"stopping {name} (pid {pid})...")
            deadline = time.monotonic() + grace_seconds
            while running() and time.monotonic() < deadline:
                os.kill(pid, signal.SIGTERM)
                for _ in range(5):
                    time.sleep(0.2)
                    if not running():
                        break
            if running():
                self.echo(f"{name} did not stop within {grace_seconds:.0f}s: killing it")
                os.kill(pid, signal.SIGKILL)
            if process is not None:
                process.wait()
        self._pid_file(name).unlink(missing_ok=True)

    def _wait_ready(self) -> None:
        started = time.monotonic()
        deadline = started + self.settings.devstack_start_timeout
        last_report = started
        while True:
            statuses = self.status()
            if all(status.ready for status in statuses):
                return
            for status in statuses:
                if not status.ready and self._exited(status.name):
                    raise DevStackError(
                        f"{status.name} exited during start-up; last lines of {self._log_file(status.name)}:\n"
                        + _tail(self._log_file(status.name).read_text(errors="replace"))
                    )
            now = time.monotonic()
            if now > deadline:
                waiting = ", ".join(status.name for status in statuses if not status.ready)
                raise DevStackError(
                    f"{waiting} not ready after {self.settings.devstack_start_timeout:.0f}s; see {self.log_dir}"
                )
            if now - last_report >= 5:
                waiting = ", ".join(status.name for status in statuses if not status.ready)
                self.echo(f"waiting for {waiting} ({now - started:.0f}s)...")
                last_report = now
            time.sleep(0.5)


def _require(program: str, hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise DevStackError(f"{program} not found on PATH ({hint})")
    return path


def _ensure_free(port: int, what: str, setting: str) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise DevStackError(f"port {port} for {what} is taken by another process; choose another with {setting}")


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return True


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
