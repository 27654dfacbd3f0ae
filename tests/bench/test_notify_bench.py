"""Smoke test of bench/notify.py on a tiny size: it runs end to end and prints the promised JSON keys (the
figures themselves are not checked: this machine's load decides them)."""

from __future__ import annotations

import glob
import json
import subprocess
import sys
from pathlib import Path

from prereq import need, need_program

BENCH = Path(__file__).resolve().parents[2] / "bench" / "notify.py"


def test_bench_quick_json() -> None:
    need_program("snmptrapd")
    need(bool(glob.glob("/usr/lib/erlang/lib/snmp-*/mibs/SNMPv2-SMI.mib")),
         "needs the standard SNMPv2 MIB modules (Debian package erlang-snmp)")
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--json", "--alerts", "4", "--interval", "0.05"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["alerts"] == 4 and result["fired"] == 4
    assert result["smtp_missing"] == 0 and result["snmp_missing"] == 0
    for key in ("smtp", "snmp", "baseline_smtp", "baseline_snmp"):
        assert result[f"{key}_p50_ms"] > 0
        assert result[f"{key}_p99_ms"] >= result[f"{key}_p50_ms"]
    assert result["smtp_p99_ratio"] > 0 and result["snmp_p99_ratio"] > 0
