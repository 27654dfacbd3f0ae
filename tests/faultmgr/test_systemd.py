"""``Type=notify`` and the watchdog, against a notify socket the test listens on as systemd would."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def start(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], socket.socket]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    listener.settimeout(30)
    rules = tmp_path / "r.yaml"
    rules.write_text(f"daemon: {{state_dir: {tmp_path}/state}}\nreceivers: {{o: {{type: log}}}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "faultmgr", "run", "-c", str(rules)], stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), **env})
    return proc, listener


def messages(listener: socket.socket, until: str) -> list[tuple[float, str]]:
    got = []
    while True:
        data = listener.recv(4096).decode()
        got.append((time.monotonic(), data))
        if data == until:
            return got


@contextlib.contextmanager
def daemon(tmp_path: Path, **env: str) -> Iterator[tuple[subprocess.Popen[str], socket.socket]]:
    """A daemon started with the notify socket (and ``env``); killed at the end if it is still running."""
    proc, listener = start(tmp_path, **env)
    try:
        yield proc, listener
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        listener.close()


def test_ready_then_watchdog_pings_then_stopping(tmp_path: Path) -> None:
    # systemd's WatchdogSec=0.4s: ping every 0.2 s
    with daemon(tmp_path, WATCHDOG_USEC="400000") as (proc, listener):
        first = messages(listener, "READY=1")
        assert [m for _, m in first] == ["READY=1"]
        pings = [messages(listener, "WATCHDOG=1")[-1][0] for _ in range(5)]
        # Five pings came in a row; their pace is the daemon's (never asserted as a time: the machine is shared).
        assert len(pings) == 5 and pings == sorted(pings)
        proc.send_signal(signal.SIGTERM)
        rest = [m for _, m in messages(listener, "STOPPING=1")]
        assert set(rest) <= {"WATCHDOG=1", "STOPPING=1"}
        assert proc.wait(timeout=30) == 0


def test_no_pings_when_the_watchdog_is_meant_for_another_process(tmp_path: Path) -> None:
    """``WATCHDOG_PID`` names the main process systemd watches: a child that inherited the variables (a
    helper started by the daemon, a shell) must not ping in its name."""
    with daemon(tmp_path, WATCHDOG_USEC="400000", WATCHDOG_PID="1") as (proc, listener):
        assert messages(listener, "READY=1")[-1][1] == "READY=1"
        time.sleep(1.0)  # five ping intervals: the other test sees pings come within this much
        proc.send_signal(signal.SIGTERM)
        assert [m for _, m in messages(listener, "STOPPING=1")] == ["STOPPING=1"]
        assert proc.wait(timeout=30) == 0
