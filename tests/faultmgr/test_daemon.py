"""The daemon as operators run it: a real process, its control socket, SIGHUP/`faultmgr reload`, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultmgr.control import ControlError, request

RULES = """
daemon: {{state_dir: {state}, tick: 50ms}}
detectors: {{ext: {{type: external}}}}
receivers: {{out: {{type: log, path: {out}, group_by: ['...'], group_wait: {wait}}}}}
rules: {{down: {{match: {{kind: probe.failed, source: ext}}, for: {for_}, notify: [out]}}}}
"""


class Running:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.rules = tmp / "rules.yaml"
        self.state = tmp / "state"
        self.out = tmp / "out.jsonl"
        self.write()
        self.proc = subprocess.Popen([sys.executable, "-m", "faultmgr", "run", "-c", str(self.rules)],
                                     stderr=subprocess.PIPE, text=True)
        self.wait_for(lambda: (self.state / "control.sock").exists(), "the control socket")

    def write(self, wait: str = "0s", for_: str = "0s", extra: str = "") -> None:
        self.rules.write_text(RULES.format(state=self.state, out=self.out, wait=wait, for_=for_) + extra)

    def ask(self, cmd: str, **args: object) -> dict[str, object]:
        return request(self.state / "control.sock", cmd, **args)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "faultmgr", *args, "-c", str(self.rules)],
                              capture_output=True, text=True, timeout=60)

    def inject(self, subject: str, kind: str = "probe.failed", severity: str = "critical") -> None:
        self.ask("inject", event={"kind": kind, "subject": subject, "source": "ext", "severity": severity})

    def wait_for(self, predicate, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                pytest.fail(f"daemon exited ({self.proc.returncode}) waiting for {what}: {self.proc.stderr.read()}")
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}")

    def alerts(self) -> list[dict[str, object]]:
        return self.ask("alerts")["alerts"]  # type: ignore[return-value]

    def sent(self) -> list[dict[str, object]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return err


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Running]:
    running = Running(tmp_path)
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()


def test_inject_alert_ack_and_journal(daemon: Running) -> None:
    daemon.inject("web1")
    daemon.wait_for(lambda: len(daemon.sent()) == 1, "the page")
    [alert] = daemon.alerts()
    result = daemon.cli("ack", str(alert["id"]), "-m", "on it")
    assert result.returncode == 0, result.stderr
    assert daemon.alerts()[0]["acknowledged_by"] == "root"
    history = json.loads(daemon.cli("history", "--what", "control", "--json").stdout)
    assert history[0]["who"] == "root" and history[0]["action"] == "ack" and history[0]["detail"] == "on it"


def test_reload_keeps_alerts_and_pending_timers(daemon: Running) -> None:
    daemon.write(for_="2s")
    assert daemon.cli("reload").returncode == 0
    daemon.inject("web1")
    daemon.wait_for(lambda: [a["state"] for a in daemon.alerts()] == ["pending"], "a pending alert")
    daemon.write(for_="2s", wait="0s", extra="inhibit: []\n")
    daemon.proc.send_signal(signal.SIGHUP)  # the same reload, by signal
    daemon.wait_for(lambda: [a["state"] for a in daemon.alerts()] == ["firing"], "the alert firing after reload")
    daemon.wait_for(lambda: len(daemon.sent()) == 1, "the page")
    status = daemon.ask("status")["status"]
    assert status["last_reload"]["ok"] is True  # type: ignore[index]


def test_bad_reload_is_refused_and_the_old_config_keeps_running(daemon: Running) -> None:
    daemon.inject("web1")
    daemon.wait_for(lambda: len(daemon.sent()) == 1, "the page")
    daemon.rules.write_text(daemon.rules.read_text().replace("type: log", "type: lgo"))
    result = daemon.cli("reload")
    assert result.returncode == 2
    assert "config refused (1 error(s)); the old one keeps running" in result.stderr
    assert "unknown receiver type 'lgo' — did you mean 'log'?" in result.stderr
    daemon.inject("web2")
    daemon.wait_for(lambda: len(daemon.sent()) == 2, "a page with the old config")
    assert daemon.ask("status")["status"]["last_reload"]["ok"] is False  # type: ignore[index]
    assert "reload refused" in daemon.stop()


def test_files_are_private_and_sigterm_stops_cleanly(daemon: Running) -> None:
    daemon.inject("web1")
    daemon.wait_for(lambda: len(daemon.sent()) == 1, "the page")
    assert stat.S_IMODE(os.stat(daemon.state / "journal.db").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(daemon.state / "control.sock").st_mode) == 0o660
    assert stat.S_IMODE(os.stat(daemon.state).st_mode) & 0o007 == 0
    daemon.stop()
    assert daemon.proc.returncode == 0
    assert not (daemon.state / "control.sock").exists()


def test_cli_says_clearly_when_no_daemon_runs(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(f"daemon: {{state_dir: {tmp_path}}}\nreceivers: {{o: {{type: log}}}}\n")
    result = subprocess.run([sys.executable, "-m", "faultmgr", "alerts", "-c", str(rules)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"no daemon is running (no control socket at {tmp_path}/control.sock)")
    with pytest.raises(ControlError):
        request(tmp_path / "control.sock", "status")
