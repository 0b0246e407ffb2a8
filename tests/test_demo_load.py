"""Slow (SEMHM_SLOW_TESTS=1): the demo under load with decompression bombs, measured in a real server
process (benchmarks/demo_load.py): two 99 MP, 12 KB PNG bombs and 20 normal requests at once."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("gradio")
pytestmark = pytest.mark.skipif(os.environ.get("SEMHM_SLOW_TESTS") != "1", reason="slow: set SEMHM_SLOW_TESTS=1")


def test_two_bombs_and_twenty_requests_at_once_stay_under_3_gb():
    from benchmarks.demo_load import measure

    r = measure(requests=20, bombs=2)
    assert r["failed"] == [] and r["completed"] == 20 and r["bombs_completed"] == 2, r
    assert all("reduced from 9950x9950" in s for s in r["bomb_status"]), r["bomb_status"]
    assert r["server_rss_mb"]["peak"] < 3000, r["server_rss_mb"]
    assert r["files_left_after_shutdown"] == [], r["files_left_after_shutdown"]
