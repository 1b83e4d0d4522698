"""The serving process's collector settings (api/collector.py)."""

from __future__ import annotations

import gc

from api import collector


def test_a_serving_process_freezes_its_start_and_collects_the_young_less_often() -> None:
    collector.tune()
    collector.tune()  # the second app of a process changes nothing
    assert gc.get_threshold()[0] == collector.YOUNG
    assert gc.get_freeze_count() > 0
