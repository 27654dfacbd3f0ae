"""The daemon as operators run it: a real process, its control socket, SIGHUP/`faultmgr reload`, SIGTERM."""

from __future__ import annotations

import grp
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prereq import need, need_program, need_root

from faultmgr.control import ControlError, request

RULES = """
daemon: {{state_dir: {state}, tick: 50ms{daemon}}}
detectors: {{ext: {{type: external}}}}
receivers: {{out: {{type: log, path: {out}, group_by: ['...'], group_wait: {wait}}}}}
rules: {{down: {{match: {{kind: probe.failed, source: ext}}, for: {for_}, notify: [out]}}}}
"""


class Running:
    def __init__(self, tmp: Path, daemon: str = "") -> None:
        self.tmp = tmp
        self.daemon = daemon
        self.rules = tmp / "rules.yaml"
        self.state = tmp / "state"
        self.out = tmp / "out.jsonl"
        self.write()
        self.proc = subprocess.Popen([sys.executable, "-m", "faultmgr", "run", "-c", str(self.rules)],
                                     stderr=subprocess.PIPE, text=True)
        self.wait_for(lambda: (self.state / "control.sock").exists(), "the control socket")

    def write(self, wait: str = "0s", for_: str = "0s", extra: str = "") -> None:
        self.rules.write_text(RULES.format(state=self.state, out=self.out, wait=wait, for_=for_,
                                            daemon=self.daemon) + extra)

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


def test_a_sighup_and_reloads_at_once_run_one_after_the_other(daemon: Running) -> None:
    """Every reload applies cleanly: the first restarts the changed receiver, the others find nothing changed
    (interleaved, each would have compared against the old config and started its own receiver)."""
    daemon.write(wait="1s")  # the receiver's settings change: a reload restarts it
    answers: list[dict[str, object]] = []
    asked = [threading.Thread(target=lambda: answers.append(daemon.ask("reload"))) for _ in range(3)]
    for thread in asked:
        thread.start()
    time.sleep(0.05)  # let the requests arrive: the signal then lands while a reload is under way
    daemon.proc.send_signal(signal.SIGHUP)
    for thread in asked:
        thread.join(60)
    assert [a.get("ok") for a in answers] == [True] * 3, answers

    def reloads() -> list[tuple[str, str]]:
        db = sqlite3.connect(f"file:{daemon.state / 'journal.db'}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute("SELECT who, detail FROM control_log WHERE action='reload' ORDER BY id").fetchall()
        finally:
            db.close()

    daemon.wait_for(lambda: len(reloads()) == 4, "the four reloads in the control log")
    assert sorted(detail for _, detail in reloads()) == ["applied; changed: none"] * 3 + [
        "applied; changed: receiver:out"]
    assert {who for who, _ in reloads()} == {"root", "signal SIGHUP"}
    daemon.inject("web1")  # and the daemon still pages, through the one receiver it kept
    daemon.wait_for(lambda: len(daemon.sent()) == 1, "the page")


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


# A client in another process, as an unprivileged user: the system's Python only needs a socket.
CLIENT = """
import json, socket, sys
sock = socket.socket(socket.AF_UNIX)
try:
    sock.connect(sys.argv[1])
except OSError as exc:
    print(type(exc).__name__)
    raise SystemExit(0)
sock.sendall(json.dumps({"cmd": "status"}).encode() + b"\\n")
print(json.loads(sock.makefile().readline())["ok"])
"""


def as_user(uid: int, gid: int, socket_path: Path) -> str:
    python = "/usr/bin/python3"  # Debian's: readable by every user, unlike a virtualenv under /root
    need(Path(python).exists(), f"{python} (Debian package python3)")
    result = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", python, "-c", CLIENT,
                             str(socket_path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_control_group_members_may_use_the_socket_and_others_may_not() -> None:
    """``control_group``: the socket (0660) and the state directory (0750) belong to that group, so its members
    reach the daemon and other local users do not (clients run as real unprivileged users)."""
    need_root()
    need_program("setpriv", "util-linux")
    group = grp.getgrnam("nogroup")
    top = Path(tempfile.mkdtemp(prefix="fm-group-"))
    try:
        top.chmod(0o755)  # as /var/lib is: anyone may pass through to the state directory's own mode
        running = Running(top, daemon=", control_group: nogroup")
        try:
            sock = running.state / "control.sock"
            assert os.stat(sock).st_gid == group.gr_gid and stat.S_IMODE(os.stat(sock).st_mode) == 0o660
            assert os.stat(running.state).st_gid == group.gr_gid
            assert as_user(65534, group.gr_gid, sock) == "True"  # nobody:nogroup, a member
            assert as_user(65534, 1, sock) == "PermissionError"  # the same user outside the group
            running.stop()
            assert running.proc.returncode == 0
        finally:
            if running.proc.poll() is None:
                running.proc.kill()
                running.proc.wait()
    finally:
        shutil.rmtree(top)


def test_an_unknown_control_group_stops_the_start_with_one_line(tmp_path: Path) -> None:
    """The group belongs to the machine that runs the daemon, so `check` (which may run elsewhere) leaves it
    alone; the daemon refuses to start with one line, and leaves no socket behind."""
    rules = tmp_path / "r.yaml"
    rules.write_text(f"daemon: {{state_dir: {tmp_path}/state, control_group: no-such-group-xyz}}\n"
                     "receivers: {o: {type: log}}\n")
    result = subprocess.run([sys.executable, "-m", "faultmgr", "run", "-c", str(rules)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "faultmgr: control_group 'no-such-group-xyz': no such group"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "control.sock").exists()


def test_an_existing_state_dir_and_log_file_open_to_all_are_tightened(tmp_path: Path) -> None:
    """Made by hand (or by an older version) with a umask of 022: the daemon takes the access of others away."""
    (tmp_path / "state").mkdir(mode=0o755)
    (tmp_path / "state").chmod(0o775)
    (tmp_path / "out.jsonl").write_text("")
    (tmp_path / "out.jsonl").chmod(0o666)
    running = Running(tmp_path)
    try:
        running.inject("web1")
        running.wait_for(lambda: len(running.sent()) == 1, "the page")
        assert stat.S_IMODE(os.stat(running.state).st_mode) == 0o750
        assert stat.S_IMODE(os.stat(running.out).st_mode) == 0o640
        assert "state_dir " + str(running.state) + " was mode 0775; now 0750" in running.stop()
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait()
