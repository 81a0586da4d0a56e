"""Device and channel: what a person is on right now, and so how to reach them."""

from __future__ import annotations

from collections.abc import Sequence

from ctxi.enrichers.registry import enricher
from ctxi.lookups.devices import device_type_of
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import ContactChannel, DeviceType, SessionChannel, SessionEvent
from ctxi.schemas.signals import DeviceSignal
from ctxi.settings import EngineConfig

# How to reach a customer who is in this channel now, on this device.
_REACH_VIA = {
    SessionChannel.APP: ContactChannel.APP,
    SessionChannel.CHAT: ContactChannel.CHAT,
    SessionChannel.IVR: ContactChannel.PHONE,
}


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
