import re
import sys

import pytest

from ctxi.benchmarks import engine_floor


def test_the_floor_experiment_reports_each_cost_and_the_share_of_the_goal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["engine_floor", "--customers", "20", "--repeats", "1"])
    engine_floor.main()
    report = capsys.readouterr().out
    row = r"\| \*\*floor: read the line, write the row\*\* \| \*\*([\d.]+)\*\* \| \*\*([\d.]+)\*\* \|"
    floor = re.search(row, report)
    assert floor is not None, report
    models, plain = map(float, floor.groups())
    assert models > plain > 0  # validating and encoding models costs more than reading and writing plain data
    assert re.search(r"the floor alone is \d+% of the goal's budget an event; as plain data \d+%", report)
