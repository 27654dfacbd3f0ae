"""What a restart of the daemon does to paging, each case pinned down on its own (the kill loop of
test_durability.py hits these windows only by chance): a firing alert is paged once across restarts, an alert
that fired but was not yet written to the outbox when the daemon died is still paged, and an outbox row that
cannot be read does not stall the receiver's queue."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from daemon_lab import DaemonProcess, Receiver

from faultmgr.engine.journal import Journal

pytestmark = pytest.mark.slow

WAIT = 15.0  # seconds allowed for a page that should come


def pages_about(receiver: Receiver, subject: str, status: str = "firing") -> int:
    with receiver.lock:
        return sum(1 for r in receiver.requests
                   if r.body.get("status") == status and any(a["subject"] == subject for a in r.body["alerts"]))


def wait_for_page(receiver: Receiver, subject: str, status: str = "firing") -> int:
    deadline = time.monotonic() + WAIT
    while pages_about(receiver, subject, status) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return pages_about(receiver, subject, status)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.up()
    yield rec
    rec.close()


def page_web1_restart_page_web2(tmp_path: Path, receiver: Receiver, down: Callable[[DaemonProcess], None]) -> None:
    """web1 is paged; ``down`` stops the daemon (and may leave a mark on what it left); after the restart
    web2 is paged. The outbox is first in, first out per receiver: whatever the restart queued about web1 goes
    out before the page about web2, so web1's pages are all in when this returns."""
    daemon = DaemonProcess(tmp_path, receiver.port, group_wait="0s")
    try:
        daemon.start()
        assert daemon.inject("web1")
        assert wait_for_page(receiver, "web1") == 1
        daemon.wait_drained()
        down(daemon)
        daemon.start()
        assert daemon.inject("web2")
        assert wait_for_page(receiver, "web2") == 1
        daemon.wait_drained()
    finally:
        daemon.stop()


def test_restart_does_not_page_a_firing_alert_again(tmp_path: Path, receiver: Receiver) -> None:
    page_web1_restart_page_web2(tmp_path, receiver, DaemonProcess.stop)
    assert pages_about(receiver, "web1") == 1, [r.key for r in receiver.requests]


def test_kill_between_page_and_its_record_does_not_page_again(tmp_path: Path, receiver: Receiver) -> None:
    def killed_between_the_commits(daemon: DaemonProcess) -> None:
        daemon.kill()
        # What a kill between the two commits leaves: the page is in the outbox, the alert does not say so.
        db = sqlite3.connect(daemon.journal)
        with db:
            for alert_id, data in db.execute("SELECT id, data FROM alerts").fetchall():
                record = json.loads(data)
                assert record["notified"] == ["hook"], record
                record["notified"] = []
                db.execute("UPDATE alerts SET data=? WHERE id=?", (json.dumps(record), alert_id))
        db.close()

    page_web1_restart_page_web2(tmp_path, receiver, killed_between_the_commits)
    keys = {r.key for r in receiver.requests if any(a["subject"] == "web1" for a in r.body["alerts"])}
    assert len(keys) == 1, f"web1 paged under {len(keys)} different keys: {sorted(keys)}"


def test_alert_fired_during_group_wait_is_paged_after_a_kill(tmp_path: Path, receiver: Receiver) -> None:
    daemon = DaemonProcess(tmp_path, receiver.port, group_wait="3s")
    try:
        daemon.start()
        assert daemon.inject("web1")
        deadline = time.monotonic() + WAIT
        while not daemon.firing_fingerprints() and time.monotonic() < deadline:
            time.sleep(0.01)
        daemon.kill()
        if daemon.outbox() or not daemon.firing_fingerprints():
            pytest.skip("the kill did not fall inside group_wait after the alert fired (machine too slow)")
        daemon.start()
        assert wait_for_page(receiver, "web1") == 1
    finally:
        daemon.stop()


def test_unreadable_outbox_row_does_not_stall_the_receiver(tmp_path: Path, receiver: Receiver) -> None:
    daemon = DaemonProcess(tmp_path, receiver.port)
    journal = Journal(daemon.journal)
    # A row without its payload (what a two-statement write interrupted by a kill once left behind).
    journal.db.execute("INSERT INTO outbox (receiver, dedup_key, subject_key, state, next_at, created_at, "
                       "updated_at, payload) VALUES ('hook', 'hook:half:1', 'web0', 'pending', 0, 0, 0, '{}')")
    journal.close()
    try:
        daemon.start()
        assert daemon.inject("web1")
        assert wait_for_page(receiver, "web1") == 1
    finally:
        daemon.stop()
    assert [state for key, state, _ in daemon.outbox() if key == "hook:half:1"] == ["dead"]


def test_alert_resolved_during_group_interval_is_paged_after_a_kill(tmp_path: Path, receiver: Receiver) -> None:
    daemon = DaemonProcess(tmp_path, receiver.port, group_interval="5s")
    try:
        daemon.start()
        assert daemon.inject("web1")
        assert wait_for_page(receiver, "web1") == 1
        assert daemon.inject("web1", severity="ok", kind="service.ok")
        deadline = time.monotonic() + WAIT
        while daemon.alert_states().get("web1") != "resolved" and time.monotonic() < deadline:
            time.sleep(0.01)
        daemon.kill()
        if pages_about(receiver, "web1", "resolved") or daemon.alert_states().get("web1") != "resolved":
            pytest.skip("the kill did not fall inside group_interval after the recovery (machine too slow)")
        daemon.start()
        assert wait_for_page(receiver, "web1", "resolved") == 1
    finally:
        daemon.stop()


STORM_RECEIVER = """\
  out:
    type: log
    path: {path}
    group_by: ["..."]
    group_wait: 0s
"""


def test_a_restart_with_500_firing_alerts_sends_no_page_again(tmp_path: Path) -> None:
    """keepalived #666: a restart re-announced every state it held. Here 500 alerts are firing and paged, each in
    its own group; after a restart the only page is the one for a new failure."""
    out = tmp_path / "pages.jsonl"
    daemon = DaemonProcess(tmp_path, receivers=STORM_RECEIVER.format(path=out), notify="out")

    def pages() -> list[dict[str, object]]:
        return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []

    def wait_pages(count: int) -> None:
        deadline = time.monotonic() + 60
        while len(pages()) < count:
            assert time.monotonic() < deadline, f"{len(pages())} of {count} pages:\n{daemon.log.read_text()}"
            time.sleep(0.1)

    try:
        daemon.start()
        with ThreadPoolExecutor(4) as pool:  # four connections at a time: the storm arrives faster
            assert all(pool.map(daemon.inject, (f"node{i:03d}" for i in range(500))))
        wait_pages(500)
        daemon.wait_drained()
        daemon.stop()
        before = len(pages())
        daemon.start()
        assert daemon.inject("canary")  # a new failure after the restart: its page is the sign the outbox ran
        wait_pages(before + 1)
        daemon.wait_drained()
    finally:
        daemon.stop()
    after = pages()[before:]
    assert before == 500
    assert [[a["subject"] for a in p["alerts"]] for p in after] == [["canary"]]  # type: ignore[union-attr]
    assert list(daemon.alert_states().values()).count("firing") == 501
