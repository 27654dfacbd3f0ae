"""``/metrics`` (Prometheus text format, our own registry) and the live ``/api/v1/stream`` feed."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests

Daemon = Any
READ = "bob-read-token-0123456789abc"


def test_metrics_count_events_alerts_notifications(daemon: Daemon) -> None:
    before = daemon.metrics()
    daemon.inject("metrics-1", kind="disk.full", severity="warning")
    daemon.wait_alert("metrics-1")
    after = daemon.metrics_after(before, "faultmgr_notifications_total", receiver="ops-log", outcome="sent")
    assert after.value("faultmgr_events_total", kind="disk.full", severity="warning") == \
        before.value("faultmgr_events_total", kind="disk.full", severity="warning") + 1
    assert after.value("faultmgr_alerts", state="firing", severity="warning") >= 1
    assert after.value("faultmgr_alert_changes_total", change="firing", severity="warning") >= 1
    assert after.value("faultmgr_rule_evaluations_total") > before.value("faultmgr_rule_evaluations_total")
    assert ("faultmgr_outbox_depth", (("receiver", "ops-log"),)) in after
    assert after.value("faultmgr_event_loop_lag_seconds", which="max") >= 0
    assert after.value("faultmgr_start_time_seconds") > 0


def test_metrics_count_action_runs_by_outcome(daemon: Daemon) -> None:
    before = daemon.metrics()
    daemon.inject("metrics-job", kind="job.failed", severity="warning")
    after = daemon.metrics_after(before, "faultmgr_action_runs_total", action="run-false", type="command",
                                 outcome="failed")
    assert after.value("faultmgr_action_runs_total", action="run-true", type="command", outcome="ok") == \
        before.value("faultmgr_action_runs_total", action="run-true", type="command", outcome="ok") + 1
    assert "faultmgr_failovers_total" not in daemon.get("/metrics", token=None).text.replace(
        "# HELP faultmgr_failovers_total", "").replace("# TYPE faultmgr_failovers_total", "")


def test_metrics_heartbeat_paths_and_vips(daemon: Daemon) -> None:
    deadline = time.monotonic() + 15
    while daemon.metrics().value("faultmgr_heartbeat_peer_up", detector="hb", peer="head-b", state="up") != 1:
        assert time.monotonic() < deadline, "head-b never up"
        time.sleep(0.1)
    first = daemon.metrics()
    for path in ("lan", "backup"):
        age = first.value("faultmgr_heartbeat_last_beat_age_seconds", detector="hb", peer="head-b", path=path)
        assert 0 <= age < 2
        assert first.value("faultmgr_heartbeat_missed_beats", detector="hb", peer="head-b", path=path) < 10
    time.sleep(0.6)
    later = daemon.metrics()
    seq = {"detector": "hb", "peer": "head-b", "path": "lan"}
    assert later.value("faultmgr_heartbeat_path_seq", **seq) > first.value("faultmgr_heartbeat_path_seq", **seq)
    assert later.value("faultmgr_vip_held", action="vip-web", vip="127.0.0.77/32") == 0
    assert ("faultmgr_vip_held", (("action", "vip-web"), ("vip", "127.0.0.77/32"))) in later


def test_metrics_are_our_registry_only(daemon: Daemon) -> None:
    text = daemon.get("/metrics", token=None).text
    # the process-global registry would add python_gc_* and process_* series
    assert "python_gc_objects_collected_total" not in text
    assert "faultmgr_events_total" in text


class StreamReader(threading.Thread):
    """Reads server-sent events into a list until told to stop."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self.ready = threading.Event()
        self.status = 0

    def run(self) -> None:
        with requests.get(self.url, headers={"Authorization": f"Bearer {READ}"}, stream=True, timeout=30) as resp:
            self.status = resp.status_code
            self.ready.set()
            kind = ""
            for line in resp.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self.frames.append((kind, json.loads(line[6:])))
                    seen = {k for k, d in self.frames if d.get("subject") == "stream-1"}
                    if {"alert", "event"} <= seen:
                        return


def test_stream_delivers_an_injected_event_and_its_alert(daemon: Daemon) -> None:
    reader = StreamReader(daemon.url + "/api/v1/stream")
    reader.start()
    assert reader.ready.wait(10) and reader.status == 200
    daemon.inject("stream-1", message="seen live")
    reader.join(15)
    kinds = {(k, d.get("subject")) for k, d in reader.frames}
    assert ("event", "stream-1") in kinds and ("alert", "stream-1") in kinds, reader.frames
    event = next(d for k, d in reader.frames if k == "event" and d["subject"] == "stream-1")
    assert event["message"] == "seen live" and event["labels"]["injected_by"] == "alice"


def test_stream_needs_a_token_and_known_kinds(daemon: Daemon) -> None:
    assert daemon.get("/api/v1/stream", token=None).status_code == 401
    assert daemon.get("/api/v1/stream?kinds=bogus").status_code == 400


def test_probe_latency_counts_every_check_not_only_events(daemon: Daemon) -> None:
    # The probes detector checks the API's own port every 200 ms; it passes every time, so it never emits an
    # event: the histogram must grow all the same.
    labels = {"detector": "probes", "check": "connect"}
    events = {"kind": "probe.failed", "severity": "critical"}
    deadline = time.monotonic() + 15
    first = daemon.metrics()
    while (after := daemon.metrics()).value("faultmgr_probe_latency_seconds_count", **labels) < \
            first.value("faultmgr_probe_latency_seconds_count", **labels) + 3:
        assert time.monotonic() < deadline, "probe latency not counted"
        time.sleep(0.2)
    assert after.value("faultmgr_events_total", **events) == first.value("faultmgr_events_total", **events)
    count = after.value("faultmgr_probe_latency_seconds_count", **labels)
    assert after.value("faultmgr_probe_latency_seconds_bucket", le="+Inf", **labels) == count
    assert after.value("faultmgr_probe_latency_seconds_bucket", le="10.0", **labels) == count  # loopback
    assert after.value("faultmgr_probe_latency_seconds_sum", **labels) > 0
    status = daemon.get("/api/v1/status").json()["components"]["detector"]["probes"]
    assert status["targets"]["api-port"]["state"] == "up"
