"""Structured logs: one line per event, alert change, notification outcome and action outcome, with their
fields as JSON keys under ``log_format: json`` (a real daemon's stderr, parsed line by line)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from daemon_lab import DaemonProcess, Receiver

from faultmgr.logs import JsonFormatter, fields

CONFIG = """\
daemon: {{state_dir: "{{state}}", tick: 50ms, shutdown_timeout: 2s, log_format: json}}
detectors: {{ext: {{type: external}}}}
actions: {{mark: {{type: command, argv: [/bin/true]}}}}
receivers: {{out: {{{receiver}, group_by: ['...'], group_wait: 0s}}}}
rules: {{down: {{match: {{kind: service.down, source: ext}}, notify: [out], actions: [mark]}}}}
"""


def test_a_daemon_logs_event_alert_notification_and_action_as_json_objects(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    daemon = DaemonProcess(tmp_path, text=CONFIG.format(receiver=f'type: log, path: "{out}"'))
    daemon.start()
    try:
        assert daemon.inject("web1")
        daemon.wait_until(lambda: out.exists() and out.read_text().strip() != "", "the page")
        daemon.wait_until(lambda: any(r[2] == "ok" for r in daemon.action_runs()), "the action's outcome")
    finally:
        daemon.stop()
    lines = daemon.log_objects()
    assert lines, daemon.log.read_text()
    events = [r for r in lines if r.get("kind") == "service.down"]
    assert len(events) == 1, lines
    [event] = events
    assert event["level"] == "info" and event["logger"] == "faultmgr.engine"
    assert event["source"] == "ext" and event["subject"] == "web1" and event["severity"] == "critical"
    assert isinstance(event["event_id"], int) and event["event_id"] >= 1
    assert f"event #{event['event_id']} service.down web1" in event["message"]
    [firing] = [r for r in lines if r.get("change") == "firing"]
    assert firing["rule"] == "down" and firing["subject"] == "web1" and len(firing["fingerprint"]) >= 8
    [sent] = [r for r in lines if r.get("outcome") == "sent"]
    assert sent["receiver"] == "out" and sent["attempt"] == 1 and isinstance(sent["notification_id"], int)
    [action] = [r for r in lines if r.get("action") == "mark" and r.get("outcome") == "ok"]
    assert action["phase"] == "fire" and action["rule"] == "down" and action["fingerprint"] == firing["fingerprint"]
    # the order things happened in: the event, then its alert, then its page
    assert lines.index(event) < lines.index(firing) < lines.index(sent)


def test_fields_never_replace_the_base_keys() -> None:
    record = logging.LogRecord("faultmgr.x", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    for key, value in fields(message="spoofed", level="error", receiver="pager").items():
        setattr(record, key, value)
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "hello there" and data["level"] == "info" and data["receiver"] == "pager"


def test_retries_are_logged_with_their_attempt_then_the_delivery(tmp_path: Path) -> None:
    receiver = Receiver()  # bound, not listening: connections are refused until up()
    webhook = (f'type: webhook, url: "http://127.0.0.1:{receiver.port}/hook", timeout: 2s, '
               "retry: {initial: 100ms, max_delay: 300ms}")
    daemon = DaemonProcess(tmp_path, text=CONFIG.format(receiver=webhook))
    daemon.start()
    try:
        assert daemon.inject("web1")
        daemon.wait_until(lambda: sum(r.get("outcome") == "retry" for r in daemon.log_objects()) >= 2, "two retries")
        receiver.up()
        daemon.wait_until(lambda: any(r.get("outcome") == "sent" for r in daemon.log_objects()), "the delivery")
    finally:
        daemon.stop()
        receiver.close()
    lines = [r for r in daemon.log_objects() if r.get("receiver") == "out"]
    retries = [r for r in lines if r["outcome"] == "retry"]
    [sent] = [r for r in lines if r["outcome"] == "sent"]
    assert [r["attempt"] for r in retries] == list(range(1, len(retries) + 1))
    assert all(r["level"] == "warning" and r["error"] and r["retry_in"] > 0 for r in retries)
    assert {r["notification_id"] for r in retries} == {sent["notification_id"]}
    assert sent["attempt"] == len(retries) + 1 and len(receiver.requests) == 1
