"""`faultmgr simulate`: events from a JSON-lines file through the rules on a virtual clock; what would be
paged and run is printed, nothing is sent or run; a bad line is one error naming file:line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RULES = """\
daemon: {{state_dir: {state}}}
actions: {{fix: {{type: command, argv: [touch, {marker}]}}}}
receivers: {{pager: {{type: log, path: {out}, group_by: ['...'], group_wait: 10s}}}}
rules:
  web-down:
    match: {{kind: probe.failed, subject: "web*"}}
    for: 30s
    notify: [pager]
    actions: [fix]
"""

EVENTS = """\
# web1 fails and stays failed; web2 fails once and recovers before `for:` is up
{"at": 0, "kind": "probe.failed", "source": "probes", "subject": "web1", "severity": "critical"}
{"at": 5, "kind": "probe.failed", "source": "probes", "subject": "web2", "severity": "critical"}

{"at": 12, "kind": "probe.ok", "source": "probes", "subject": "web2", "severity": "ok"}
"""


def simulate(tmp: Path, events: str, *args: str) -> subprocess.CompletedProcess[str]:
    rules, feed = tmp / "rules.yaml", tmp / "events.jsonl"
    rules.write_text(RULES.format(state=tmp / "state", marker=tmp / "ran", out=tmp / "sent"))
    feed.write_text(events)
    return subprocess.run([sys.executable, "-m", "faultmgr", "simulate", "-c", str(rules), str(feed), *args],
                          capture_output=True, text=True, timeout=60)


def test_timeline_with_settle_shows_for_group_wait_and_actions_but_runs_nothing(tmp_path: Path) -> None:
    result = simulate(tmp_path, EVENTS, "--settle", "1m")
    assert result.returncode == 0, result.stderr
    lines = [line.replace("T+", "", 1).split(None, 2) for line in result.stdout.splitlines()]
    assert [(at, what) for at, what, _ in lines] == [
        ("0.000", "event"), ("0.000", "alert"),      # web1 pending
        ("5.000", "event"), ("5.000", "alert"),      # web2 pending
        ("12.000", "event"),                         # web2 recovers before its 30 s: never fires
        ("30.000", "alert"), ("30.000", "actions"),  # web1 fires, its action would run once
        ("40.000", "notify"),                        # after the receiver's 10 s group wait
    ]
    text = result.stdout
    assert "#1 web-down on web1: pending" in text and "#1 web-down on web1: firing" in text
    assert "fix (fire) for #1 web-down on web1" in text and "notify    pager: [FIRING" in text
    assert "web2: firing" not in text
    # nothing was run or sent, and no journal was written
    assert not (tmp_path / "ran").exists() and not (tmp_path / "sent").exists()
    assert not (tmp_path / "state" / "journal.db").exists()


def test_without_settle_the_clock_stops_at_the_last_event_and_json_says_the_same(tmp_path: Path) -> None:
    result = simulate(tmp_path, EVENTS, "--json")
    assert result.returncode == 0, result.stderr
    timeline = json.loads(result.stdout)
    assert [item["type"] for item in timeline] == ["event", "alert", "event", "alert", "event"]
    assert [item["alert"]["state"] for item in timeline if item["type"] == "alert"] == ["pending", "pending"]
    first = timeline[0]
    assert first["kind"] == "probe.failed" and first["subject"] == "web1" and first["severity"] == "critical"
    assert timeline[-1]["at"] - first["at"] == 12
    settled = json.loads(simulate(tmp_path, EVENTS, "--json", "--settle", "45s").stdout)
    [notification] = [item for item in settled if item["type"] == "notification"]
    assert notification["receiver"] == "pager" and notification["status"] == "firing"
    assert notification["at"] - first["at"] == 40
    [actions] = [item for item in settled if item["type"] == "actions"]
    assert actions["actions"] == ["fix"] and actions["resolved"] is False


def test_a_bad_line_is_one_error_naming_file_and_line(tmp_path: Path) -> None:
    bad = EVENTS + '{"at": 20, "kind": "probe.failed", "subject": \n'
    result = simulate(tmp_path, bad)
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"{tmp_path / 'events.jsonl'}:6:" in line, line
    not_a_number = simulate(tmp_path, '{"at": "soon", "kind": "k", "source": "s", "subject": "x"}\n')
    assert not_a_number.returncode == 2
    assert f"{tmp_path / 'events.jsonl'}:1: 'at' must be a number of seconds" in not_a_number.stderr
    bad_settle = simulate(tmp_path, EVENTS, "--settle", "soon")
    assert bad_settle.returncode == 2 and "--settle" in bad_settle.stderr and "Traceback" not in bad_settle.stderr
