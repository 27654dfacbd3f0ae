"""bench/heartbeat.py runs end to end on a tiny size and prints the promised JSON keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "heartbeat.py"


@pytest.mark.slow
def test_quick_json_on_a_tiny_size() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--json", "--duration", "3"],
                         capture_output=True, text=True, timeout=180, check=True)
    report = json.loads(out.stdout)
    for mode in ("loop", "thread", "process"):
        entry = report["beats_under_load"][mode]
        for key in ("beats", "gap_p50_ms", "gap_p99_ms", "gap_max_ms", "false_dead_at_150ms"):
            assert key in entry, key
        assert entry["beats"] > 0
    [detection] = report["detection"].values()
    assert detection["median_ms"] > 0 and detection["deadtime_ms"] == 150
