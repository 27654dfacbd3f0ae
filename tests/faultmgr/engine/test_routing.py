"""Routing: grouping, inhibition, silences, acknowledgement, escalation, flapping, rate limits."""

from __future__ import annotations

from faultmgr.testing import make_harness


def test_two_hundred_failures_page_once_with_a_summary() -> None:
    h = make_harness("""
detectors: {ext: {type: external}}
receivers: {ops: {type: log, group_by: [rule], group_wait: 30s, group_interval: 5m}}
rules: {down: {match: {kind: probe.failed}, notify: [ops], annotations: {summary: "{subject} down"}}}
""")
    for i in range(200):
        h.feed("probe.failed", f"web{i}", source="ext")
    h.advance(31)
    assert len(h.notifications) == 1
    note = h.notifications[0]
    assert len(note.firing) == 200
    assert note.title.startswith("[FIRING:200]") and "(+199 more)" in note.title


def test_group_interval_batches_changes_and_repeat_interval_repeats() -> None:
    h = make_harness("""
detectors: {ext: {type: external}}
receivers: {ops: {type: log, group_by: [rule], group_wait: 0s, group_interval: 1m, repeat_interval: 1h}}
rules: {down: {match: {kind: probe.failed}, notify: [ops]}}
""")
    h.feed("probe.failed", "web1", source="ext")
    assert len(h.notifications) == 1
    h.advance(5)
    h.feed("probe.failed", "web2", source="ext")
    h.feed("probe.failed", "web3", source="ext")
    assert len(h.notifications) == 1  # waits for group_interval
    h.advance(60)
    assert len(h.notifications) == 2 and len(h.notifications[1].firing) == 3
    h.advance(30 * 60)
    assert len(h.notifications) == 2  # nothing changed, repeat not due
    h.advance(31 * 60)
    assert len(h.notifications) == 3  # repeat_interval


def test_acknowledgement_stops_repeats_and_escalation() -> None:
    h = make_harness("""
detectors: {ext: {type: external}}
receivers:
  ops: {type: log, group_wait: 0s, group_interval: 1m, repeat_interval: 10m}
  boss: {type: log}
rules:
  down:
    match: {kind: probe.failed}
    notify: [ops]
    escalate: [{after: 15m, notify: [boss]}]
""")
    h.feed("probe.failed", "web1", source="ext")
    alert = h.alerts[0]
    h.engine.acknowledge(alert.id, "alice", "on it")
    h.advance(60 * 60)
    assert [n.kind for n in h.sent_to("ops")] == ["alert", "acknowledgement"]
    assert h.sent_to("ops")[1].title == "[ACK] down on web1 by alice"
    assert h.sent_to("boss") == []
    assert h.engine.journal.control_log()[0]["who"] == "alice"


def test_escalation_pages_next_tier_when_unacknowledged() -> None:
    h = make_harness("""
detectors: {ext: {type: external}}
receivers: {ops: {type: log, group_wait: 0s}, boss: {type: log}, cto: {type: log}}
rules:
  down:
    match: {kind: probe.failed}
    notify: [ops]
    escalate: [{after: 15m, notify: [boss]}, {after: 1h, notify: [cto]}]
""")
    h.feed("probe.failed", "web1", source="ext")
    h.advance(14 * 60)
    assert h.sent_to("boss") == []
    h.advance(2 * 60)
    assert len(h.sent_to("boss")) == 1 and h.sent_to("boss")[0].kind == "escalation"
    h.advance(60 * 60)
    assert len(h.sent_to("boss")) == 1 and len(h.sent_to("cto")) == 1


def test_inhibition_both_heads_down_inhibits_head_down_and_node_down_inhibits_services() -> None:
    h = make_harness("""
detectors: {ext: {type: external}}
receivers: {ops: {type: log, group_by: ['...'], group_wait: 0s}}
rules:
  head-down: {match: {kind: heartbeat.peer.dead}, notify: [ops]}
  both-heads-down:
    all: [{kind: heartbeat.peer.dead, subject: head-a}, {kind: heartbeat.peer.dead, subject: head-b}]
    labels: {subject: heads}
    notify: [ops]
  service-down: {match: {kind: probe.failed}, notify: [ops]}
  node-down: {match: {kind: node.down}, notify: [ops]}
inhibit:
  - {source: [rule=both-heads-down], target: [rule=head-down]}
  - {source: [rule=node-down], target: [rule=service-down], equal: [node]}
""")
    h.feed("node.down", "n1", source="ext", labels={"node": "n1"})
    h.feed("probe.failed", "web-on-n1", source="ext", labels={"node": "n1"})
    h.feed("probe.failed", "web-on-n2", source="ext", labels={"node": "n2"})
    h.feed("heartbeat.peer.dead", "head-b", source="ext")
    h.feed("heartbeat.peer.dead", "head-a", source="ext")
    paged = sorted(a.subject for n in h.notifications for a in n.alerts)
    assert "web-on-n1" not in paged
    assert "web-on-n2" in paged and "n1" in paged and "heads" in paged
    assert "head-b" in paged  # fired before both were down
    assert "head-a" not in paged  # inhibited: both heads were down by then


def test_silence_mutes_then_expiry_notifies() -> None:
    h = make_harness("""
detectors: {ext: {type: external}}
receivers: {ops: {type: log, group_by: ['...'], group_wait: 0s, group_interval: 10s}}
rules: {down: {match: {kind: probe.failed}, notify: [ops]}}
""")
    silence = h.engine.silence(["subject=~web[12]"], 3600, "bob", "maintenance")
    h.feed("probe.failed", "web1", source="ext")
    h.feed("probe.failed", "web3", source="ext")
    assert [n.alerts[0].subject for n in h.notifications] == ["web3"]
    h.engine.expire_silence(silence.id, "bob")
    h.advance(11)
    assert [n.alerts[0].subject for n in h.notifications] == ["web3", "web1"]


def test_flapping_stops_the_storm_with_started_and_stopped_notices() -> None:
    h = make_harness("""
daemon: {flap_changes: 6, flap_interval: 10m}
detectors: {ext: {type: external}}
receivers: {ops: {type: log, group_by: ['...'], group_wait: 0s, group_interval: 0s}}
rules: {down: {match: {kind: probe.failed}, notify: [ops]}}
""")
    for _ in range(20):
        h.feed("probe.failed", "web1", source="ext")
        h.advance(5)
        h.feed("probe.ok", "web1", "ok", source="ext")
        h.advance(5)
    titles = [n.title for n in h.notifications]
    assert sum(t.startswith("[FLAPPING]") for t in titles) == 1
    assert len(titles) <= 8  # 40 state changes, at most the first few pages and one notice
    h.advance(20 * 60)
    assert h.notifications[-1].title.startswith("[FLAPPING STOPPED]")
    assert "resolved" in h.notifications[-1].title


def test_rate_limit_holds_back_and_summarises() -> None:
    h = make_harness("""
detectors: {ext: {type: external}}
receivers: {sms: {type: log, group_by: ['...'], group_wait: 0s, rate_limit: {count: 3, per: 1m}}}
rules: {down: {match: {kind: probe.failed}, notify: [sms]}}
""")
    for i in range(50):
        h.feed("probe.failed", f"web{i}", source="ext")
    assert len(h.notifications) == 3
    h.advance(61)
    assert len(h.notifications) == 4
    assert h.notifications[-1].title == "rate limit: 47 notification(s) suppressed"


def test_notifications_for_one_subject_keep_event_order() -> None:
    h = make_harness("""
detectors: {ext: {type: external}}
receivers: {ops: {type: log, group_by: ['...'], group_wait: 0s, group_interval: 0s}}
rules: {down: {match: {kind: probe.failed}, notify: [ops], flap_detection: false}}
""")
    for _ in range(3):
        h.feed("probe.failed", "web1", source="ext")
        h.advance(1)
        h.feed("probe.ok", "web1", "ok", source="ext")
        h.advance(1)
    assert [n.status for n in h.notifications] == ["firing", "resolved"] * 3
