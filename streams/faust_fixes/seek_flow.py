"""The seek to the committed offsets runs with the flow stopped.

faust's recovery seeks with the flow running (it resumed it to read the changelogs), then
resumes its flow control, which empties the agents' queues: a record handed on in between
was thrown away with its read offset already past it, so it was not read again until the
next rebalance (a start-up probe sat unprocessed for minutes). faust's recovery resumes
the flow after the seek.
"""

from __future__ import annotations

from faust.transport.drivers import aiokafka as faust_aiokafka

from ctxi.streams.faust_fixes import FaustName

RELIES_ON = (
    FaustName(faust_aiokafka.Consumer, "perform_seek", "(self)"),
    FaustName(faust_aiokafka.Consumer, "flow_active", None),
    FaustName(faust_aiokafka.Consumer, "stop_flow", "(self)"),
)


class SeekWithFlowStopped(faust_aiokafka.Consumer):
    async def perform_seek(self) -> None:
        if self.flow_active:
            self.stop_flow()
        await super().perform_seek()
