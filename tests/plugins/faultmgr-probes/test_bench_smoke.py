"""bench/probes.py runs end to end on a tiny size and prints the promised JSON keys."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from prereq import need_program

BENCH = Path(__file__).resolve().parents[3] / "bench" / "probes.py"


@pytest.mark.slow
def test_quick_json_on_a_tiny_size() -> None:
    need_program("haproxy")
    need_program("curl")
    base = random.randrange(61000, 65000)  # above the ephemeral range, away from a full run's ports
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--json", "--targets", "20", "--duration", "2",
                          "--base-port", str(base)], capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(out.stdout)
    entry = report["sizes"]["20"]
    for key in ("checks_per_s", "scheduled_per_s", "p99_late_ms", "cpu_s", "floor_cpu_s", "fork_checks_per_s"):
        assert key in entry, key
    assert entry["scheduled_per_s"] == 20 and entry["checks_per_s"] > 0 and entry["failing_targets"] == 0
    assert report["fork"]["started"] > 0 and report["fork"]["failed"] == 0
