"""The worker's garbage-collector setting (worker.stream.app.tune_collector)."""

from __future__ import annotations

import gc

from worker.stream.app import GC_THRESHOLDS, tune_collector


def test_the_worker_collects_young_objects_every_50000_allocations_and_freezes_its_start() -> None:
    """tune_collector sets the thresholds and moves what exists to the permanent generation."""
    thresholds = gc.get_threshold()
    existing = {"a": [1, 2, 3]}  # a tracked container made before the call
    try:
        tune_collector()
        assert gc.get_threshold() == GC_THRESHOLDS == (50_000, 20, 100)
        assert gc.get_freeze_count() > 0
        assert not any(o is existing for o in gc.get_objects())  # frozen: no longer traversed
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert any(o is existing for o in gc.get_objects())
