"""Smoke run of bench/api.py on a tiny size: it runs and prints one JSON object with its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "api.py"


def test_bench_api_quick_json() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--json", "--events", "20", "--alerts", "5"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["events"] == 20 and result["feed_seen"] == 20
    assert result["inject_api_p50_ms"] > 0 and result["inject_ratio_p50"] > 0
