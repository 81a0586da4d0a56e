"""The bench's report and plot from results (no services: the figures are given)."""

from __future__ import annotations

from pathlib import Path

from ctxi.benchmarks.endtoend import BenchResults, RateRun, Sample, _percentile, plot, report


def results() -> BenchResults:
    runs = [
        RateRun(100, 99.5, 1000, 40, 20.0, 60.0, 90.0, 40.0, 120.0, 300, [Sample(0.5, 300, 40.0, 120.0)]),
        RateRun(200, 199.0, 2000, 80, 30.0, None, None, 70.0, 130.0, 900, []),
    ]
    return BenchResults(
        2000, 11000, [5000.0, 5200.0, 4900.0], 1800.0, 2400.0, [400.0, 380.0, 420.0], [2000.0], runs, "ctxi bench"
    )


def test_the_report_has_the_ratio_and_a_row_per_rate() -> None:
    text = report(results())
    assert "| engine alone (replay path), median of 3 | 5,000 events/s |" in text
    assert "| ctxi worker, sustained (one process), median of 3 | 400 events/s |" in text
    assert "| ctxi / ceiling | 20% |" in text
    assert "| context state per customer (stored bytes), median / p95 | 1,800 / 2,400 |" in text
    assert "| 100 | 100 | 40 | 20 | 60 | 90 | 40% | 120 | 300 |" in text
    assert "| 200 | 199 | 80 | 30 | n/a | n/a | 70% | 130 | 900 |" in text


def test_the_plot_is_written(tmp_path: Path) -> None:
    plot(results(), tmp_path / "latency.png")
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_percentiles_pick_ranks() -> None:
    assert _percentile([], 0.5) is None
    assert _percentile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert _percentile([float(i) for i in range(100)], 0.99) == 98.0
