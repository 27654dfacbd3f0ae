"""Smoke test of bench/audit.py on a tiny size: it runs and prints the promised JSON keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "audit.py"


def test_bench_quick_json() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--json", "--lines", "3000"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    result = json.loads(out)
    assert result["lines"] == 3000
    assert result["lines_per_s"] > 0 and result["floor_lines_per_s"] > 0
    assert result["events"] > 0
