"""The outbox with a real e-mail receiver: a real daemon (``faultmgr run``) pages a real SMTP server (aiosmtpd)
that is down at first, and retries until it is up; a failing receiver hands the page to its ``fallback``."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_lab import DaemonProcess
from smtp_lab import SmtpServer

RECEIVER = """\
  {name}:
    type: email
    host: 127.0.0.1
    port: {port}
    security: none
    sender: faultmgr@example.invalid
    to: [{name}@example.invalid]
    local_hostname: test.invalid
    timeout: 2s
    group_by: ["..."]
    group_wait: 0s
    send_resolved: false
    retry: {retry}
"""

@pytest.fixture
def servers() -> Iterator[list[SmtpServer]]:
    made: list[SmtpServer] = []
    yield made
    for server in made:
        server.down()


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    made: list[DaemonProcess] = []
    yield made
    for daemon in made:
        daemon.stop()


def start_daemon(tmp_path: Path, receivers: str, daemons: list[DaemonProcess]) -> DaemonProcess:
    daemon = DaemonProcess(tmp_path, receivers=receivers, notify="mail")
    daemons.append(daemon)
    daemon.start()
    return daemon


def outbox_rows(daemon: DaemonProcess) -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{daemon.journal}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute("SELECT receiver, dedup_key, state, attempts, last_error FROM outbox ORDER BY id").fetchall()
    finally:
        db.close()
    return [dict(zip(("receiver", "dedup_key", "state", "attempts", "last_error"), r, strict=True)) for r in rows]


def wait_rows(daemon: DaemonProcess, done: Any, what: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Until ``done(rows)`` holds; fails with the rows and the daemon's log."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = outbox_rows(daemon)
        if done(rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"outbox never showed {what}: {rows}\n{daemon.log.read_text()}")


def test_retried_until_the_server_is_up_then_delivered_once(tmp_path: Path, servers: list[SmtpServer],
                                                            daemons: list[DaemonProcess]) -> None:
    smtp = SmtpServer()  # its port is chosen, but nothing listens there yet
    servers.append(smtp)
    daemon = start_daemon(tmp_path, RECEIVER.format(name="mail", port=smtp.port,
                                                    retry="{initial: 100ms, max_delay: 300ms}"), daemons)
    assert daemon.inject("web1")

    rows = wait_rows(daemon, lambda rs: len(rs) == 1 and rs[0]["attempts"] >= 3, "three failed attempts")
    assert rows[0]["state"] in ("pending", "sending")
    assert "Connect" in rows[0]["last_error"] or "refused" in rows[0]["last_error"]
    assert smtp.messages == []

    smtp.up()
    [message] = smtp.wait(1)
    assert "web1" in message["Subject"]
    assert message["X-Faultmgr-Status"] == "firing"
    [row] = wait_rows(daemon, lambda rs: rs and rs[0]["state"] == "done", "the row done")
    assert row["attempts"] > 1
    assert row["last_error"] == ""
    assert message["X-Faultmgr-Dedup-Key"] == row["dedup_key"]
    time.sleep(1.0)  # several retry periods: a second copy would have come by now
    assert len(smtp.messages) == 1


def test_fallback_receiver_gets_the_page_after_fallback_after_attempts(
        tmp_path: Path, servers: list[SmtpServer], daemons: list[DaemonProcess]) -> None:
    dead, backup = SmtpServer(), SmtpServer()
    servers += [dead, backup]
    backup.up()
    receivers = (RECEIVER.format(name="mail", port=dead.port, retry="{fallback_after: 2, initial: 100ms}")
                 + "    fallback: backup\n"
                 + RECEIVER.format(name="backup", port=backup.port, retry="{initial: 100ms}"))
    daemon = start_daemon(tmp_path, receivers, daemons)
    assert daemon.inject("db1")

    [message] = backup.wait(1)
    assert "db1" in message["Subject"]
    assert backup.recipients == [["backup@example.invalid"]]
    rows = wait_rows(daemon, lambda rs: len(rs) == 2 and rs[1]["state"] == "done", "the fallback's row done")
    primary, fallback = rows
    assert (primary["receiver"], primary["state"], primary["attempts"]) == ("mail", "forwarded", 2)
    assert (fallback["receiver"], fallback["attempts"]) == ("backup", 1)
    assert fallback["dedup_key"] == f"{primary['dedup_key']}>backup"
    time.sleep(0.5)
    assert len(backup.messages) == 1
    assert dead.messages == []
