"""The collector setting a worker and `ctxi replay` start the stream with."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ctxi.engine.garbage import MIDDLE_THRESHOLD, OLD_THRESHOLD, YOUNG_THRESHOLD, collect_less


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_what_exists_is_frozen_and_young_collections_come_less_often() -> None:
    kept = [{"a": [1, 2]} for _ in range(1000)]
    collect_less()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    assert gc.get_freeze_count() >= len(kept)
    before = gc.get_stats()[0]["collections"]
    garbage = [[] for _ in range(5_000)]  # well under the threshold: no young collection
    assert gc.get_stats()[0]["collections"] == before
    del garbage
