from __future__ import annotations

import pytest

from ctxi.engine.config import EngineConfig
from ctxi.enrichers.device import device
from tests.factories import joined, make_event

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


def signal_for(payload: dict):
    event = make_event("device.session", payload, at="2026-03-01T10:00:00Z")
    context = joined(event)
    [signal] = device(event, context, EngineConfig())
    return signal, context


@pytest.mark.parametrize(
    ("user_agent", "channel", "device_type", "reach_via"),
    [
        (IPHONE, "app", "phone", "app"),
        (IPHONE, "web", "phone", "sms"),
        (IPAD, "web", "tablet", "chat"),
        (WINDOWS, "web", "desktop", "chat"),
        (WINDOWS, "chat", "desktop", "chat"),
        (IPHONE, "ivr", "phone", "phone"),
    ],
)
def test_device_type_from_the_user_agent_and_how_to_reach_the_customer(
    user_agent: str, channel: str, device_type: str, reach_via: str
) -> None:
    signal, context = signal_for({"actor": "customer", "user_agent": user_agent, "channel": channel})
    assert (signal.device_type, signal.device_source, signal.reach_via) == (device_type, "user_agent", reach_via)
    assert signal.on_phone is (device_type == "phone")
    assert context.customer_device is not None and context.customer_device.device_type == device_type


def test_explicit_device_type_wins_over_the_user_agent() -> None:
    signal, _ = signal_for({"actor": "customer", "user_agent": IPHONE, "device_type": "desktop", "channel": "web"})
    assert (signal.device_type, signal.device_source) == ("desktop", "explicit")


def test_unknown_device() -> None:
    signal, _ = signal_for({"actor": "customer", "channel": "web"})
    assert (signal.device_type, signal.device_source, signal.on_phone) == (None, "unknown", False)


def test_agent_session_updates_the_agent_device_and_suggests_no_customer_channel() -> None:
    signal, context = signal_for({"actor": "agent", "actor_id": "A-7", "user_agent": IPHONE, "channel": "desk"})
    assert signal.on_phone and signal.reach_via is None
    assert context.agent_device is not None and context.customer_device is None
