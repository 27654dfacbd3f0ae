"""bench/failover.py end to end on the smallest size, and the short robustness check: heads under a CPU hog
on every core do not declare each other dead."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import faultmgr_vip_lab_daemons as D
import pytest
from prereq import need, need_program, need_root

pytestmark = [pytest.mark.netns, pytest.mark.slow]
BENCH = Path(__file__).resolve().parents[3] / "bench" / "failover.py"


def run_bench(*args: str) -> dict[str, object]:
    need_root()
    need_program("keepalived", "keepalived")
    why = D.daemon_available()
    need(why is None, why or "")
    proc = subprocess.run([sys.executable, str(BENCH), "--json", *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout))


def test_quick_json_run() -> None:
    out = run_bench("--quick", "--runs", "1", "--hog-seconds", "0")
    setting = out["settings"]["100ms"]  # type: ignore[index]
    assert setting["faultmgr_ms"] > 0 and setting["keepalived_ms"] > 0, setting
    assert setting["false_failovers"] == 0
    assert setting["ratio"] > 0


def test_no_false_peer_dead_under_cpu_hog() -> None:
    out = run_bench("--quick", "--runs", "0", "--only", "faultmgr", "--hog-seconds", "10")
    assert out["robustness"]["faultmgr_false_alarms"] == 0, out  # type: ignore[index]
