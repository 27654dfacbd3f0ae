"""The journal: bounded by age and count, queried with filters, private on disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from faultmgr.engine.journal import Journal
from faultmgr.event import Event, Severity


def test_retention_by_age_and_count(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    now = 1_800_000_000.0
    for i in range(3000):
        journal.record_event(Event("probe.failed" if i % 2 else "probe.ok", "p", f"web{i % 7}",
                                   Severity.CRITICAL, time=now - 100 * 86400 + i * 3000))
    journal.flush_events()
    deleted = journal.apply_retention(now, max_age=30 * 86400, max_events=1000)
    remaining = journal.events(limit=10_000)
    assert deleted == 3000 - len(remaining)
    assert len(remaining) <= 1000
    assert min(e["time"] for e in remaining) >= now - 30 * 86400
    journal.close()


def test_history_filters_and_paging(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    for i in range(50):
        journal.record_event(Event("heartbeat.peer.dead" if i % 5 == 0 else "probe.failed", "src",
                                   f"node{i % 3}", time=1000.0 + i))
    dead = journal.events(kind="heartbeat.*")
    assert len(dead) == 10 and all(e["kind"] == "heartbeat.peer.dead" for e in dead)
    page1 = journal.events(subject="node1", limit=5)
    page2 = journal.events(subject="node1", limit=5, before_id=page1[-1]["id"])
    assert [e["subject"] for e in page1 + page2] == ["node1"] * 10
    assert page1[0]["id"] > page1[-1]["id"] > page2[0]["id"]
    assert journal.events(since=1040.0, until=1044.0, limit=100)[-1]["time"] == 1040.0
    journal.close()


def test_database_is_private(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state" / "journal.db")
    journal.record_event(Event("x", "s", "y"))
    journal.close()
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "journal.db").st_mode) == 0o600
