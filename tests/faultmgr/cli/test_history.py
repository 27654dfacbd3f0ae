"""`faultmgr history`: reads the journal a daemon left, and refuses bad options with one line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from faultmgr.engine.journal import Journal
from faultmgr.event import Event, Severity


def history(rules: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faultmgr", "history", "-c", str(rules), *args],
                          capture_output=True, text=True, timeout=60)


def test_events_filtered_by_kind_and_age(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(f"daemon: {{state_dir: {tmp_path}}}\nreceivers: {{o: {{type: log}}}}\n")
    journal = Journal(tmp_path / "journal.db")
    now = time.time()
    for kind, subject, age in (("probe.failed", "web1", 10), ("heartbeat.peer.dead", "head-a", 5),
                               ("probe.failed", "web2", 7200)):
        journal.record_event(Event(kind=kind, source="s", subject=subject, severity=Severity.CRITICAL,
                                   time=now - age))
    journal.flush_events()
    journal.close()
    result = history(rules, "--kind", "probe.*", "--since", "1h", "--json")
    assert result.returncode == 0, result.stderr
    assert [e["subject"] for e in json.loads(result.stdout)] == ["web1"]


def test_a_bad_duration_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(f"daemon: {{state_dir: {tmp_path}}}\nreceivers: {{o: {{type: log}}}}\n")
    result = history(rules, "--since", "1x")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "faultmgr: --since '1x': invalid duration '1x': use a number and a unit (ms, s, m, h, d), e.g. 500ms, 3s, 5m"]
