import socket
from pathlib import Path

import pytest

from ctxi.settings import Settings
from ctxi.simulate.evaluate import free_ports, worker_ports
from ctxi.streams.machine import NoSlot, claim, take_slot


def settings_for(tmp_path: Path, web: int, metrics: int) -> Settings:
    return Settings(data_dir=tmp_path / "state", web_port=web, metrics_port=metrics)


def test_workers_of_one_machine_take_slots_a_directory_and_ports_each(tmp_path: Path) -> None:
    ports = worker_ports()
    web, metrics = int(ports["CTXI_WEB_PORT"]), int(ports["CTXI_METRICS_PORT"])
    first = claim(settings_for(tmp_path, web, metrics))
    second = claim(settings_for(tmp_path, web, metrics))
    assert (first.slot, first.settings.data_dir, first.settings.web_port) == (0, tmp_path / "state", web)
    assert first.settings.metrics_port == metrics
    assert (second.slot, second.settings.data_dir) == (1, tmp_path / "state-2")
    assert (second.settings.web_port, second.settings.metrics_port) == (web + 1, metrics + 1)
    first.lock.close()  # the first worker stopped: the next one takes its slot again
    third = claim(settings_for(tmp_path, web, metrics))
    assert (third.slot, third.settings.data_dir, third.settings.web_port) == (0, tmp_path / "state", web)


def test_a_slot_s_port_held_by_another_program_is_a_clear_error_and_frees_the_slot(tmp_path: Path) -> None:
    web, metrics = free_ports(2)
    with socket.socket() as other:
        other.bind(("127.0.0.1", metrics))
        other.listen()
        with pytest.raises(NoSlot, match=f"port {metrics} on 127.0.0.1 is taken by another program.*CTXI_METRICS_PORT"):
            claim(settings_for(tmp_path, web, metrics))
    slot, _, lock = take_slot(tmp_path / "state")
    assert slot == 0  # the refused worker did not keep its slot
    lock.close()


def test_metrics_off_stays_off(tmp_path: Path) -> None:
    (web,) = free_ports(1)
    first = claim(settings_for(tmp_path, web, 0))
    second = claim(settings_for(tmp_path, web, 0))
    assert (first.settings.metrics_port, second.settings.metrics_port) == (0, 0)


def test_a_slot_whose_port_would_pass_65535_is_a_clear_error(tmp_path: Path) -> None:
    first = claim(settings_for(tmp_path, 65535, 0))
    with pytest.raises(NoSlot, match=r"port 65536 on 127\.0\.0\.1 is taken by another program or out of range"):
        claim(settings_for(tmp_path, 65535, 0))
    first.lock.close()
