"""What kind of device a session is on: the one it names, else what its user agent says."""

from __future__ import annotations

from functools import lru_cache

import ua_parser
from user_agents.parsers import UserAgent, parse_browser, parse_device, parse_operating_system

from ctxi.schemas.events import DeviceType, Session


class _UserAgent(UserAgent):
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


def build_user_agent_parser() -> None:
    """Build ua-parser's matchers now (its documented way: reading ``ua_parser.parser``). Built on
    the first user agent otherwise: about 170 ms that would hold a worker's event loop, and with it
    every event behind that session, at the start of its traffic."""
    _ = ua_parser.parser


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
