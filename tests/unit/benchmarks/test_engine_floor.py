import re
import sys
from datetime import UTC, datetime

import msgspec
import pytest

from ctxi.benchmarks import engine_floor


def test_the_floor_experiment_reports_each_cost_and_the_share_of_the_goal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["engine_floor", "--customers", "20", "--repeats", "1"])
    engine_floor.main()
    report = capsys.readouterr().out
    row = (
        r"\| \*\*floor: read the line, write the row\*\* \| \*\*([\d.]+)\*\* \| \*\*([\d.]+)\*\* \| \*\*([\d.]+)\*\* \|"
    )
    floor = re.search(row, report)
    assert floor is not None, report
    models, structs, plain = map(float, floor.groups())
    # encoding a model costs more than a struct; validating a line more than reading it as plain data
    assert models > structs > plain > 0
    assert re.search(
        r"the floor alone is \d+% of the goal's budget an event; with the rows as msgspec structs \d+%", report
    )


def test_a_struct_made_from_a_model_reads_and_writes_its_rows() -> None:
    from pydantic import TypeAdapter

    from ctxi.schemas.context import CustomerContext, Observation
    from ctxi.schemas.encoding import dumps_model

    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    context = CustomerContext(
        customer_id="C-1",
        watermark=at,
        observations=[Observation(at=at, lat=1.5, lon=2.5, accuracy_km=0.1, source="social.checkin", event_id="e")],
    )
    adapters = TypeAdapter(CustomerContext)
    row = dumps_model(adapters, context, state=True)
    struct = msgspec.json.decode(row, type=engine_floor.struct_of(CustomerContext))
    assert struct.customer_id == "C-1" and struct.observations[0].at == at and struct.posts == []
    assert adapters.validate_json(msgspec.json.encode(struct)) == context  # the same row, read back by the model
