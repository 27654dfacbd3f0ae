"""The journal: bounded by age, count and bytes, queried with filters, private on disk."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path

from daemon_lab import DEADLINE, DaemonProcess

from faultmgr.engine.journal import SCHEMA, Journal
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


def flood(journal: Journal, start: int, count: int, now: float) -> None:
    for i in range(start, start + count):
        journal.record_event(Event("probe.failed", "probes", f"web{i % 97}", Severity.CRITICAL,
                                   {"pool": "web", "node": f"head-{i % 2}"}, {"reason": "x" * 200, "n": i},
                                   time=now + i * 0.001))
    journal.flush_events()


def file_bytes(path: Path) -> int:
    """The database and its write-ahead log, as the disk sees them."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def test_a_flood_of_events_stops_at_retention_bytes_and_the_file_shrinks(tmp_path: Path) -> None:
    path, now, bound = tmp_path / "j.db", 1_800_000_000.0, 2 << 20
    journal = Journal(path)
    assert journal.incremental
    flood(journal, 0, 40_000, now)  # ~15 MB: well past the bound, as if the size check had not run yet
    grown = file_bytes(path)
    assert grown > 4 * bound
    deleted = journal.apply_retention(now, 30 * 86400, 1_000_000, bound)
    used, size = journal.size()
    assert used <= bound and deleted > 20_000
    assert size <= bound * 1.25 and file_bytes(path) <= bound * 1.25  # pages given back, the log truncated
    sizes = []
    for round_ in range(10):  # the flood goes on; the size check runs between bursts, as the daemon's does
        flood(journal, 40_000 + round_ * 5000, 5000, now)
        journal.bound_size(bound)
        sizes.append(file_bytes(path))
    assert max(sizes) <= bound * 1.5, sizes  # no growth beyond the bound and one burst
    newest = journal.events(limit=1)[0]
    assert newest["payload"]["n"] == 40_000 + 10 * 5000 - 1  # the newest kept; the oldest went
    journal.close()


def test_a_journal_made_without_incremental_vacuum_keeps_working_and_stops_growing(tmp_path: Path) -> None:
    path, now, bound = tmp_path / "old.db", 1_800_000_000.0, 2 << 20
    old = sqlite3.connect(path)  # as an older faultmgr made it: no auto_vacuum before the tables
    old.executescript(SCHEMA)
    old.execute("INSERT INTO control_log (time, who, action, target, detail) VALUES (1, 'root', 'ack', '#1', '')")
    old.commit()
    old.close()
    journal = Journal(path)
    assert not journal.incremental
    assert journal.control_log()[0]["who"] == "root"
    flood(journal, 0, 20_000, now)
    journal.apply_retention(now, 30 * 86400, 1_000_000, bound)
    assert journal.size()[0] <= bound
    settled = file_bytes(path)
    for round_ in range(6):
        flood(journal, 20_000 + round_ * 5000, 5000, now)
        journal.bound_size(bound)
    assert file_bytes(path) <= settled * 1.1  # freed pages are reused: the file does not grow any more
    journal.close()


def test_retention_prunes_the_control_log_and_old_interrupted_action_runs(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    now, day = 1_800_000_000.0, 86400.0
    journal.record_control("root", "ack", "#1", "long ago", now - 40 * day)
    journal.record_control("root", "ack", "#2", "lately", now - day)
    for fp, started in (("old", now - 40 * day), ("new", now - day)):
        assert journal.claim_action(fp, 1, "fix", "fire", started)
    assert journal.interrupted_actions() == 2  # the daemon died while both ran
    assert journal.claim_action("running", 1, "fix", "fire", now - 40 * day)  # still running: kept
    journal.apply_retention(now, 30 * day, 1_000_000)
    assert [c["detail"] for c in journal.control_log()] == ["lately"]
    assert sorted((r["fingerprint"], r["state"]) for r in journal.action_runs()) == [
        ("new", "interrupted"), ("running", "started")]
    journal.close()


LOG_RECEIVER = """\
  out:
    type: log
    path: {path}
    group_by: ["..."]
"""


def test_a_daemon_starts_on_a_journal_made_without_incremental_vacuum_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "pages.jsonl"
    daemon = DaemonProcess(tmp_path, receivers=LOG_RECEIVER.format(path=out), notify="out")
    daemon.state.mkdir(mode=0o750)
    old = sqlite3.connect(daemon.journal)
    old.executescript(SCHEMA)
    old.close()
    try:
        daemon.start()
        assert daemon.inject("web1")
        deadline = time.monotonic() + DEADLINE
        while not (out.exists() and out.read_text()):
            assert time.monotonic() < deadline, daemon.log.read_text()
            time.sleep(0.05)
    finally:
        daemon.stop()
    log = daemon.log.read_text()
    assert "made without incremental vacuum" in log and "PRAGMA auto_vacuum=INCREMENTAL; VACUUM;" in log
    assert "Traceback" not in log
    fresh = DaemonProcess(tmp_path / "fresh", receivers=LOG_RECEIVER.format(path=out), notify="out")
    try:
        fresh.start()
    finally:
        fresh.stop()
    assert "incremental vacuum" not in fresh.log.read_text()
    db = sqlite3.connect(fresh.journal)
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # a new journal can shrink
    db.close()
