"""Events injected through the control socket (`faultmgr inject`) are checked as the HTTP API checks them:
the source's `kinds`, bounded fields, no `time` of their own; and each is journalled with who sent it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultmgr.control import ControlError, request

RULES = """
daemon: {{state_dir: {state}}}
detectors: {{app: {{type: external, kinds: ["app.*"]}}}}
receivers: {{out: {{type: log, path: {out}, group_wait: 0s}}}}
rules: {{stuck: {{match: {{kind: app.queue.stuck, source: app}}, notify: [out]}}}}
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    rules = tmp_path / "r.yaml"
    rules.write_text(RULES.format(state=tmp_path / "state", out=tmp_path / "out.jsonl"))
    proc = subprocess.Popen([sys.executable, "-m", "faultmgr", "run", "-c", str(rules)], stderr=subprocess.DEVNULL)
    sock = tmp_path / "state" / "control.sock"
    deadline = time.monotonic() + 60
    while not sock.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    try:
        yield rules, sock
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def refused(sock: Path, event: dict[str, object]) -> str:
    with pytest.raises(ControlError) as info:
        request(sock, "inject", event=event)
    return str(info.value)


def test_the_socket_checks_what_the_api_checks(daemon: tuple[Path, Path]) -> None:
    rules, sock = daemon
    good = {"kind": "app.queue.stuck", "source": "app", "subject": "billing", "severity": "critical"}
    assert "does not accept kind 'db.down' (kinds: app.*)" in refused(sock, {**good, "kind": "db.down"})
    assert "event: time: Extra inputs are not permitted" in refused(sock, {**good, "time": 0})
    assert "event: subject: String should have at most 500 characters" in refused(sock, {**good, "subject": "x" * 501})
    assert "source 'nope' is not an 'external' detector" in refused(sock, {**good, "source": "nope"})
    assert request(sock, "inject", event=good)["ok"] is True
    out = rules.parent / "out.jsonl"
    deadline = time.monotonic() + 30
    while not (out.exists() and out.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    [page] = [json.loads(line) for line in out.read_text().splitlines()]
    assert page["alerts"][0]["labels"]["injected_by"] == "root"
    history = subprocess.run([sys.executable, "-m", "faultmgr", "history", "-c", str(rules), "--what", "control",
                              "--json"], capture_output=True, text=True, timeout=60)
    rows = [r for r in json.loads(history.stdout) if r["action"] == "inject"]
    assert [(r["who"], r["target"], r["detail"]) for r in rows] == [("root", "app/app.queue.stuck", "billing")]


def test_alerts_lists_resolved_ones_from_the_journal_when_asked(daemon: tuple[Path, Path]) -> None:
    rules, sock = daemon
    event = {"kind": "app.queue.stuck", "source": "app", "subject": "billing", "severity": "critical"}
    request(sock, "inject", event=event)
    request(sock, "inject", event={**event, "severity": "ok"})

    def alerts(*args: str) -> list[dict[str, object]]:
        result = subprocess.run([sys.executable, "-m", "faultmgr", "alerts", "-c", str(rules), "--json", *args],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        listed: list[dict[str, object]] = json.loads(result.stdout)
        return listed

    deadline = time.monotonic() + 30
    while alerts() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alerts() == []
    [resolved] = alerts("--state", "resolved")
    assert (resolved["rule"], resolved["subject"], resolved["state"]) == ("stuck", "billing", "resolved")
