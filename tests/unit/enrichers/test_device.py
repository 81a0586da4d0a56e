from __future__ import annotations

import pytest

from ctxi.enrichers.device import device
from ctxi.settings import EngineConfig
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


ODD_AGENTS = [
    "",
    "curl/8.5.0",
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Linux; U; Android 2.2; en-gb; GT-P1000 Build/FROYO) AppleWebKit/533.1 (KHTML, like Gecko) "
    "Version/4.0 Mobile Safari/533.1",
    "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/108.2.2 like Chrome/108.0 "
    "Safari/537.36",
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows Phone 8.0; Trident/6.0; IEMobile/10.0; ARM; Touch; NOKIA; Lumia 920)",
    "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 "
    "Safari/605.1.15",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]


def test_the_fast_parser_reads_user_agents_as_user_agents_own_parser_does() -> None:
    """ua-parser 1.x's native resolver and the legacy parser user-agents calls read the same
    device type, on the simulator's user agents and on odd ones (tablets, old phones, bots)."""
    from user_agents import parse as legacy_parse

    from ctxi.lookups.devices import device_type_from_user_agent
    from ctxi.simulate.world import World

    world = World(seed=7)
    agents = [world.user_agent(phone) for phone in (True, False) for _ in range(60)] + ODD_AGENTS
    agents += [IPHONE, IPAD, WINDOWS]
    for agent in agents:
        legacy = legacy_parse(agent)
        expected = (
            "tablet" if legacy.is_tablet else "phone" if legacy.is_mobile else "desktop" if legacy.is_pc else None
        )
        found = device_type_from_user_agent(agent)
        assert (found.value if found else None) == expected, agent


def test_a_user_agent_with_an_absurd_version_is_read_without_it() -> None:
    """A version of thousands of digits made user-agents' int() raise, and the event fail in the engine."""
    android = f"Mozilla/5.0 (Linux; Android {'1' * 9_900}; Mobile) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"
    signal, _ = signal_for({"actor": "customer", "user_agent": android, "channel": "web"})
    assert signal.device_type == "phone"
