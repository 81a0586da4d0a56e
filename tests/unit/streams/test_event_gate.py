"""Under exactly-once a commit falls between events: it waits for those inside and holds new ones back."""

from __future__ import annotations

import asyncio

from ctxi.streams.acks import EventGate


async def test_a_commit_waits_for_the_events_inside_to_finish() -> None:
    gate, log = EventGate(), []
    finish = asyncio.Event()

    async def event(name: str) -> None:
        await gate.enter()
        await finish.wait()
        log.append(name)
        gate.leave()

    async def commit() -> None:
        async with gate.commit():
            log.append("commit")

    events = [asyncio.create_task(event("ingest")), asyncio.create_task(event("context"))]
    await asyncio.sleep(0)  # both agents are inside their events: the gate lets many through
    committing = asyncio.create_task(commit())
    await asyncio.sleep(0.01)
    assert log == []  # the commit waits
    finish.set()
    await asyncio.gather(*events, committing)
    assert log[-1] == "commit" and sorted(log[:2]) == ["context", "ingest"]


async def test_an_event_waits_while_a_commit_runs() -> None:
    gate, log = EventGate(), []
    release = asyncio.Event()

    async def commit() -> None:
        async with gate.commit():
            await release.wait()
            log.append("commit")

    async def event() -> None:
        await gate.enter()
        log.append("event")
        gate.leave()

    committing = asyncio.create_task(commit())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(event())
    await asyncio.sleep(0.01)
    assert log == []  # held back
    release.set()
    await asyncio.gather(committing, waiting)
    assert log == ["commit", "event"]
