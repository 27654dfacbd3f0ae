"""Smoke test of bench/engine.py: a tiny run prints one JSON object with the figures the issue asks for
(the speed itself is not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "engine.py"


def test_quick_json_has_the_figures() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--json", "--events", "2000", "--rules", "50",
                          "--kinds", "5", "--budget", "20"], capture_output=True, text=True, timeout=120,
                         check=True)
    result = json.loads(out.stdout)
    for key in ("events_per_s", "p99_ms", "floor_events_per_s", "floor_indexed_events_per_s",
                "floor_over_engine", "notifications", "meets_target"):
        assert key in result, key
    assert result["rules"] == 50
    assert result["events_per_s"] > 0 and result["floor_events_per_s"] > 0
    assert result["notifications"] > 0, "the workload opened no alert: the rules and events no longer meet"
