"""Device and channel: what a person is on right now, and so how to reach them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import ua_parser
from user_agents.parsers import UserAgent, parse_browser, parse_device, parse_operating_system

from ctxi.context.state import CustomerContext
from ctxi.enrichers.registry import enricher
from ctxi.enrichers.signals import DeviceSignal
from ctxi.schemas.events import ContactChannel, DeviceType, Session, SessionChannel, SessionEvent
from ctxi.settings import EngineConfig

# How to reach a customer who is in this channel now, on this device.
_REACH_VIA = {
    SessionChannel.APP: ContactChannel.APP,
    SessionChannel.CHAT: ContactChannel.CHAT,
    SessionChannel.IVR: ContactChannel.PHONE,
}


class _UserAgent(UserAgent):  # type: ignore[misc]
    """user-agents' reading of a user agent (tablet, phone, computer) on what ua-parser 1.x parses.

    user-agents itself calls ua-parser's legacy API, pure-Python regular expressions: about
    1.7 ms a user agent here. ua-parser 1.x's ``parse`` runs the same uap-core rules in its
    native resolver (``ua-parser-rs``, the ``regex`` extra) with a cache of its own: about
    80 µs for one it has not seen (tests/unit/enrichers/test_device.py checks both agree).
    """

    def __init__(self, user_agent_string: str) -> None:
        parsed = ua_parser.parse(user_agent_string).with_defaults()
        self.ua_string = user_agent_string
        os, browser, device = parsed.os, parsed.user_agent, parsed.device
        self.os = parse_operating_system(os.family, *map(_version, (os.major, os.minor, os.patch, os.patch_minor)))
        self.browser = parse_browser(
            browser.family, *map(_version, (browser.major, browser.minor, browser.patch, browser.patch_minor))
        )
        self.device = parse_device(device.family, device.brand, device.model)


MAX_VERSION_DIGITS = 20


def _version(part: str | None) -> str | None:
    """A version number as user-agents reads it (``int()``), unless it is absurdly long: Python
    refuses to convert more than 4,300 digits, and a user agent is what a client says it is."""
    return part if part is None or len(part) <= MAX_VERSION_DIGITS else None


@lru_cache(maxsize=4096)  # real traffic repeats user agents: most sessions come from a few hundred
def device_type_from_user_agent(user_agent: str) -> DeviceType | None:
    parsed = _UserAgent(user_agent)
    if parsed.is_tablet:
        return DeviceType.TABLET
    if parsed.is_mobile:
        return DeviceType.PHONE
    if parsed.is_pc:
        return DeviceType.DESKTOP
    return None


def device_type_of(session: Session) -> DeviceType | None:
    """The explicit ``device_type`` when given, else what the user agent says."""
    if session.device_type is not None:
        return session.device_type
    return device_type_from_user_agent(session.user_agent) if session.user_agent else None


def reach_via(channel: SessionChannel, device_type: DeviceType | None) -> ContactChannel | None:
    if channel in _REACH_VIA:
        return _REACH_VIA[channel]
    if channel is SessionChannel.WEB:
        # on a phone's browser a text message is seen at once; on a computer, web chat
        return ContactChannel.SMS if device_type is DeviceType.PHONE else ContactChannel.CHAT
    return None  # the agent desk is not a way to reach a customer


@enricher("device.session")
def device(event: SessionEvent, context: CustomerContext, config: EngineConfig) -> Sequence[DeviceSignal]:
    session = event.payload
    device_type = device_type_of(session)
    if session.device_type is not None:
        source = "explicit"
    elif device_type is not None:
        source = "user_agent"
    else:
        source = "unknown"
    return [
        DeviceSignal(
            actor=session.actor,
            device_type=device_type,
            device_source=source,
            channel=session.channel,
            on_phone=device_type is DeviceType.PHONE,
            reach_via=reach_via(session.channel, device_type) if session.actor == "customer" else None,
        )
    ]
