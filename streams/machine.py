"""What one worker takes on its machine: a state directory no other worker there holds, and
ports for its health and metrics servers that go with it.

Scaling out is starting another worker with the same configuration (as Kafka Streams and
Quix Streams apps scale); on one machine the second would find the first's ports taken and
its state directory in use. So the workers of one machine take slots: the first the
configured state directory and ports, the second ``<dir>-2`` and the configured ports plus
1, and so on. A slot is a lock on its directory, held for the worker's life, so two workers
starting at once never take the same one, and a slot a stopped worker left is taken again by
the next. What a worker took is logged at start.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ctxi.settings import Settings

logger = logging.getLogger(__name__)
SLOTS = 32  # workers one machine may run with one configuration
MAX_PORT = 65535


class NoSlot(RuntimeError):
    """No slot left for another worker on this machine, or its ports held by another program."""


def take_slot(preferred: Path) -> tuple[int, Path, IO[str]]:
    """The first slot no running worker holds: its number (from 0), its state directory (``preferred``,
    then ``<preferred>-2``...), created if missing, and the lock on it, held until closed."""
    for slot in range(SLOTS):
        directory = preferred if slot == 0 else preferred.with_name(f"{preferred.name}-{slot + 1}")
        directory.mkdir(parents=True, exist_ok=True)
        lock = (directory / ".worker.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return slot, directory, lock
    raise NoSlot(f"{preferred} and the {SLOTS - 1} state directories beside it are held by running workers")


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``port``: bound as aiohttp and Python's HTTP servers bind
    (SO_REUSEADDR), so the closed connections of a worker that stopped do not count as taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


@dataclass
class Claimed:
    """A worker's settings for the slot it took, and the lock that holds the slot."""

    settings: Settings
    slot: int
    lock: IO[str]


def claim(settings: Settings) -> Claimed:
    """``settings`` for the first free slot of this machine (its state directory, the configured ports
    plus the slot's number), logged; :class:`NoSlot` if none is left or its ports are taken."""
    slot, data_dir, lock = take_slot(settings.data_dir)
    web_port = settings.web_port + slot if settings.web_port else 0
    metrics_port = settings.metrics_port + slot if settings.metrics_port else 0
    for name, host, port in (("WEB", settings.web_host, web_port), ("METRICS", settings.metrics_host, metrics_port)):
        if port > MAX_PORT or (port and not port_free(host, port)):
            lock.close()
            raise NoSlot(
                f"port {port} on {host} is taken by another program or out of range: this worker (slot {slot + 1} "
                "on this machine) "
                f"would use it for its {name.lower()} server; give it another with CTXI_{name}_PORT"
            )
    if slot:
        logger.warning(
            "another worker on this machine holds %s: this worker takes slot %d (state in %s, ports +%d)",
            settings.data_dir,
            slot + 1,
            data_dir,
            slot,
        )
    metrics = f"http://{settings.metrics_host}:{metrics_port}/metrics" if metrics_port else "off"
    logger.info(
        "this worker: health on http://%s:%s/ready, metrics %s, state in %s",
        settings.web_host,
        web_port,
        metrics,
        data_dir,
    )
    taken = settings.model_copy(update={"data_dir": data_dir, "web_port": web_port, "metrics_port": metrics_port})
    return Claimed(taken, slot, lock)
