"""`faultmgr probe maintenance` against a running daemon: the target stops being checked, the switch survives
a restart, and the change is journalled with who made it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from loopback import free_port


def faultmgr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faultmgr", *args], capture_output=True, text=True, timeout=60)


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_maintenance_switch_through_the_running_daemon(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # a TCP service that accepts: the connect check passes
    port = listener.getsockname()[1]
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""
daemon: {{state_dir: {tmp_path / 'state'}}}
detectors:
  web:
    type: probe
    checkinterval: 100ms
    checktimeout: 1s
    targets: [{{name: web1, type: connect, host: 127.0.0.1, port: {port}}},
              {{name: web2, type: connect, host: 127.0.0.1, port: {free_port()}}}]
receivers: {{out: {{type: log, path: {tmp_path / 'out.jsonl'}}}}}
rules: {{down: {{match: {{kind: probe.failed, source: web}}, notify: [out]}}}}
""")

    def state(target: str) -> str:
        result = faultmgr("probe", "list", "--json", "-c", str(rules))
        return json.loads(result.stdout)["web"][target]["state"] if result.returncode == 0 else ""

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-m", "faultmgr", "run", "-c", str(rules)],
                                stderr=subprocess.DEVNULL, text=True)
        wait_for(lambda: (tmp_path / "state" / "control.sock").exists(), "the daemon")
        return proc

    daemon = start()
    try:
        wait_for(lambda: state("web1") == "up", "web1 up")
        result = faultmgr("probe", "maintenance", "web1", "on", "-c", str(rules))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "web1: maintenance on (web)"
        wait_for(lambda: state("web1") == "maintenance", "web1 in maintenance")
        unknown = faultmgr("probe", "maintenance", "nosuch", "on", "-c", str(rules))
        assert unknown.returncode == 1 and "no probe target 'nosuch'" in unknown.stderr
        daemon.terminate()
        daemon.wait(timeout=30)
        daemon = start()  # the switch survives the restart
        wait_for(lambda: state("web1") == "maintenance", "web1 still in maintenance after a restart")
        assert faultmgr("probe", "maintenance", "web1", "off", "-c", str(rules)).returncode == 0
        wait_for(lambda: state("web1") == "up", "web1 checked again")
        control = json.loads(faultmgr("history", "--what", "control", "--json", "-c", str(rules)).stdout)
        assert [(c["who"], c["action"], c["detail"]) for c in control[:2]] == [
            ("root", "probe.maintenance", "off"), ("root", "probe.maintenance", "on")]
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        listener.close()
    down = faultmgr("probe", "list", "-c", str(rules))
    assert down.returncode == 2 and "no daemon is running" in down.stderr
