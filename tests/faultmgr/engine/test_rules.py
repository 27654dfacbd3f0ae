"""Rule evaluation: matching, thresholds, for:, windows, all/any, recovery, resolve_after."""

from __future__ import annotations

from faultmgr.testing import Harness, make_harness

BASE = """
detectors: {ext: {type: external}, other: {type: external}}
receivers: {ops: {type: log, group_by: ['...']}}
"""


def harness(rules: str) -> Harness:
    return make_harness(BASE + rules)


def firing(h: Harness) -> list[tuple[str, str]]:
    return sorted((a.rule, a.subject) for a in h.alerts if a.state == "firing")


def test_match_fires_and_recovery_resolves() -> None:
    h = harness("rules: {down: {match: {kind: probe.failed}, notify: [ops]}}")
    h.feed("probe.failed", "web1", source="ext")
    assert firing(h) == [("down", "web1")]
    h.feed("probe.ok", "web1", "ok", source="ext")
    assert firing(h) == []
    h.advance(61)  # the default group_interval
    assert [n.status for n in h.notifications] == ["firing", "resolved"]


def test_recovery_of_another_family_or_source_does_not_resolve() -> None:
    h = harness("rules: {down: {match: {kind: heartbeat.peer.dead}, notify: [ops]}}")
    h.feed("heartbeat.peer.dead", "head-a", source="ext")
    h.feed("heartbeat.path.up", "head-a", "ok", source="ext")
    h.feed("heartbeat.peer.restored", "head-a", "ok", source="other")
    assert firing(h) == [("down", "head-a")]
    h.feed("heartbeat.peer.restored", "head-a", "ok", source="ext")
    assert firing(h) == []


def test_repeats_are_deduplicated() -> None:
    h = harness("rules: {down: {match: {kind: probe.failed}, notify: [ops]}}")
    for _ in range(5):
        h.feed("probe.failed", "web1", source="ext")
        h.advance(1)
    assert len(h.notifications) == 1
    assert h.alerts[0].count == 5


def test_labels_and_where_conditions() -> None:
    h = harness("""
rules:
  slow:
    match: {kind: probe.*, labels: ['pool=~web.*', 'env!=test'], where: ['latency_ms > 500', 'reason =~ time']}
    notify: [ops]
""")
    h.feed("probe.slow", "a", source="ext", labels={"pool": "web1", "env": "prod"},
           payload={"latency_ms": 900, "reason": "timeout"})
    h.feed("probe.slow", "b", source="ext", labels={"pool": "web1", "env": "test"},
           payload={"latency_ms": 900, "reason": "timeout"})
    h.feed("probe.slow", "c", source="ext", labels={"pool": "web1", "env": "prod"},
           payload={"latency_ms": 100, "reason": "timeout"})
    h.feed("probe.slow", "d", source="ext", labels={"pool": "db", "env": "prod"},
           payload={"latency_ms": 900, "reason": "timeout"})
    assert firing(h) == [("slow", "a")]


def test_for_duration_holds_before_firing_and_cancels() -> None:
    h = harness("rules: {down: {match: {kind: probe.failed}, for: 30s, notify: [ops]}}")
    h.feed("probe.failed", "web1", source="ext")
    h.advance(29)
    assert firing(h) == [] and [a.state for a in h.alerts] == ["pending"]
    h.advance(2)
    assert firing(h) == [("down", "web1")]
    h.feed("probe.failed", "web2", source="ext")
    h.advance(10)
    h.feed("probe.ok", "web2", "ok", source="ext")
    h.advance(60)
    assert firing(h) == [("down", "web1")]
    assert [n.alerts[0].subject for n in h.notifications] == ["web1"]


def test_count_within_window_monit_style() -> None:
    h = harness("rules: {brute: {match: {kind: auth.failed}, count: 3 within 1m, notify: [ops]}}")
    h.feed("auth.failed", "10.0.0.9", source="ext")
    h.advance(40)
    h.feed("auth.failed", "10.0.0.9", source="ext")
    h.advance(40)  # the first one has left the window
    h.feed("auth.failed", "10.0.0.9", source="ext")
    assert firing(h) == []
    h.advance(5)
    h.feed("auth.failed", "10.0.0.9", source="ext")
    assert firing(h) == [("brute", "10.0.0.9")]


def test_all_fires_only_when_every_condition_holds() -> None:
    h = harness("""
rules:
  both-heads-dead:
    all:
      - {kind: heartbeat.peer.dead, subject: head-a}
      - {kind: heartbeat.peer.dead, subject: head-b}
    labels: {subject: heads}
    notify: [ops]
""")
    h.feed("heartbeat.peer.dead", "head-a", source="ext")
    assert firing(h) == []
    h.feed("heartbeat.peer.dead", "head-b", source="ext")
    assert firing(h) == [("both-heads-dead", "heads")]
    h.feed("heartbeat.peer.restored", "head-a", "ok", source="ext")
    assert firing(h) == []


def test_any_fires_while_one_holds() -> None:
    h = harness("""
rules:
  a-head-dead:
    any: [{kind: heartbeat.peer.dead, subject: head-a}, {kind: heartbeat.peer.dead, subject: head-b}]
    notify: [ops]
""")
    h.feed("heartbeat.peer.dead", "head-b", source="ext")
    assert len(firing(h)) == 1
    h.feed("heartbeat.peer.dead", "head-a", source="ext")
    h.feed("heartbeat.peer.restored", "head-b", "ok", source="ext")
    assert len(firing(h)) == 1
    h.feed("heartbeat.peer.restored", "head-a", "ok", source="ext")
    assert firing(h) == []


def test_resolve_after_for_one_shot_events() -> None:
    h = harness("rules: {watch: {match: {kind: audit.watch}, resolve_after: 10m, notify: [ops]}}")
    h.feed("audit.watch", "/etc/shadow", "warning", source="ext")
    h.advance(599)
    assert firing(h) == [("watch", "/etc/shadow")]
    h.advance(2)
    assert firing(h) == []


def test_explicit_resolve_matcher() -> None:
    h = harness("""
rules:
  link:
    match: {kind: link.down}
    resolve: {kind: link.carrier}
    notify: [ops]
""")
    h.feed("link.down", "eth0", source="ext")
    h.feed("link.up", "eth0", "ok", source="ext")
    assert firing(h) == [("link", "eth0")]
    h.feed("link.carrier", "eth0", "info", source="ext")
    assert firing(h) == []


def test_disabled_rule_never_fires() -> None:
    h = harness("rules: {down: {match: {kind: probe.failed}, enabled: false, notify: [ops]}}")
    h.feed("probe.failed", "web1", source="ext")
    assert firing(h) == []


def test_actions_run_once_per_firing_in_order() -> None:
    h = make_harness(BASE + """
actions:
  first: {type: command, argv: ["true"]}
  second: {type: command, argv: ["true"]}
rules: {down: {match: {kind: probe.failed}, actions: [first, second], notify: [ops]}}
""")
    h.feed("probe.failed", "web1", source="ext")
    h.feed("probe.failed", "web1", source="ext")
    h.feed("probe.ok", "web1", "ok", source="ext")
    assert [(r.actions, r.resolved) for r in h.actions] == [(["first", "second"], False),
                                                           (["first", "second"], True)]


def test_annotations_are_rendered_without_evaluating_code() -> None:
    h = harness("""
rules:
  down:
    match: {kind: probe.failed}
    annotations: {summary: "{subject} down ({payload.reason}) {__class__} {payload.__init__}"}
    notify: [ops]
""")
    h.feed("probe.failed", "web1", source="ext", payload={"reason": "timeout"})
    assert h.alerts[0].annotations["summary"] == "web1 down (timeout) {__class__} {payload.__init__}"


def test_label_regex_negation_excludes_what_it_matches() -> None:
    h = harness("""
rules:
  non-test:
    match: {kind: probe.failed, labels: ['env!~test|staging', 'pool=~web.*']}
    notify: [ops]
""")
    h.feed("probe.failed", "a", source="ext", labels={"pool": "web1", "env": "prod"})
    h.feed("probe.failed", "b", source="ext", labels={"pool": "web1", "env": "test"})
    h.feed("probe.failed", "c", source="ext", labels={"pool": "web1", "env": "staging"})
    h.feed("probe.failed", "d", source="ext", labels={"pool": "web1"})  # no env label: not test, so it fires
    h.feed("probe.failed", "e", source="ext", labels={"pool": "web1", "env": "pre-test-1"})  # the regex is anchored
    assert firing(h) == [("non-test", "a"), ("non-test", "d"), ("non-test", "e")]
