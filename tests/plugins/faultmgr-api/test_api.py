"""The HTTP API of a real daemon: auth, alerts, acknowledgements, silences, the journal, bad input."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

Daemon = Any  # the conftest's running daemon (tests cannot import conftest under importlib mode)
ADMIN = "alice-admin-token-0123456789"
READ = "bob-read-token-0123456789abc"


@pytest.mark.parametrize("path", ["/api/v1/alerts", "/api/v1/silences", "/api/v1/events", "/api/v1/status",
                                  "/api/v1/nodes", "/api/v1/pools", "/api/v1/rules", "/api/v1/whoami"])
def test_reads_need_a_token(daemon: Daemon, path: str) -> None:
    none = daemon.get(path, token=None)
    assert none.status_code == 401
    assert none.headers["WWW-Authenticate"].startswith("Bearer")
    assert "authentication required" in none.json()["error"]
    assert daemon.get(path, token="wrong-token-wrong-token").status_code == 401
    assert daemon.get(path, token=READ).status_code == 200
    assert daemon.get(path, token=ADMIN).status_code == 200


def test_changes_need_admin(daemon: Daemon) -> None:
    for method, path, body in [("POST", "/api/v1/alerts/1/ack", {}), ("POST", "/api/v1/alerts/1/unack", {}),
                               ("POST", "/api/v1/silences", {"matchers": ["a=b"], "duration": "1m"}),
                               ("DELETE", "/api/v1/silences/1", None), ("POST", "/api/v1/reload", {}),
                               ("POST", "/api/v1/events", {"kind": "x", "source": "ext", "subject": "y"})]:
        for token, status in ((None, 401), (READ, 403)):
            response = daemon.session.request(method, daemon.url + path, json=body, timeout=10,
                                              headers={"Authorization": f"Bearer {token}"} if token else {})
            assert response.status_code == status, (method, path, token, response.text)
            assert response.json()["status"] == status
    assert "scope 'read'" in daemon.post("/api/v1/silences", {}, token=READ).json()["error"]


def test_whoami_names_the_token(daemon: Daemon) -> None:
    assert daemon.get("/api/v1/whoami", token=READ).json() == {"name": "bob", "scope": "read", "node": "head-a"}


def test_inject_opens_an_alert_ack_is_journalled_with_the_token_name(daemon: Daemon) -> None:
    daemon.inject("web-ack")
    alert = daemon.wait_alert("web-ack")
    assert alert["state"] == "firing" and alert["severity"] == "critical" and alert["rule"] == "app-down"
    assert alert["labels"]["injected_by"] == "alice"
    acked = daemon.post(f"/api/v1/alerts/{alert['id']}/ack", {"comment": "looking at it"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "alice"
    assert daemon.get(f"/api/v1/alerts/{alert['id']}").json()["acknowledged_comment"] == "looking at it"
    control = daemon.faultmgr("history", "-c", str(daemon.config), "--what", "control", "--json", "-n", "200")
    assert control.returncode == 0, control.stderr
    rows = json.loads(control.stdout)
    assert any(r["who"] == "alice" and r["action"] == "ack" and r["target"] == f"alert #{alert['id']}" and
               r["detail"] == "looking at it" for r in rows), rows
    assert any(r["who"] == "alice" and r["action"] == "inject" for r in rows)
    unacked = daemon.post(f"/api/v1/alerts/{alert['id']}/unack")
    assert unacked.status_code == 200 and unacked.json()["acknowledged_by"] is None


def test_alert_filters(daemon: Daemon) -> None:
    daemon.inject("filter-a")
    daemon.inject("filter-b", kind="disk.full", severity="warning")
    daemon.wait_alert("filter-a")
    daemon.wait_alert("filter-b")
    warning = daemon.get("/api/v1/alerts", params={"severity": "warning", "subject": "filter-*"}).json()["alerts"]
    assert [a["subject"] for a in warning] == ["filter-b"]
    by_rule = daemon.get("/api/v1/alerts", params={"rule": "app-*", "subject": "filter-*"}).json()["alerts"]
    assert [a["subject"] for a in by_rule] == ["filter-a"]
    assert daemon.get("/api/v1/alerts", params={"state": "bogus"}).status_code == 400


def test_recovery_resolves_and_resolved_alerts_come_from_the_journal(daemon: Daemon) -> None:
    daemon.inject("web-recover")
    alert = daemon.wait_alert("web-recover")
    daemon.inject("web-recover", severity="ok")
    deadline = time.monotonic() + 10
    while daemon.get("/api/v1/alerts", params={"subject": "web-recover"}).json()["alerts"]:
        assert time.monotonic() < deadline, "alert not resolved"
        time.sleep(0.05)
    resolved = daemon.get("/api/v1/alerts", params={"state": "resolved", "subject": "web-recover"}).json()
    assert [a["id"] for a in resolved["alerts"]] == [alert["id"]]
    assert daemon.get(f"/api/v1/alerts/{alert['id']}").json()["state"] == "resolved"
    assert daemon.post(f"/api/v1/alerts/{alert['id']}/ack", {}).status_code == 404


def test_silences_create_list_expire(daemon: Daemon) -> None:
    created = daemon.post("/api/v1/silences", {"matchers": ["subject=web-silenced", "rule=~app-.*"],
                                               "duration": "30m", "comment": "maintenance"})
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["author"] == "alice" and silence["comment"] == "maintenance"
    assert silence["ends_at"] - silence["starts_at"] == pytest.approx(1800)
    listed = daemon.get("/api/v1/silences").json()["silences"]
    assert silence["id"] in [s["id"] for s in listed]
    daemon.inject("web-silenced")
    alert = daemon.wait_alert("web-silenced")
    assert alert["muted"] == f"silenced by #{silence['id']}"
    until = daemon.post("/api/v1/silences", {"matchers": ["subject=x"], "ends_at": time.time() + 600})
    assert until.status_code == 201
    expired = daemon.delete(f"/api/v1/silences/{silence['id']}")
    assert expired.status_code == 200
    assert silence["id"] not in [s["id"] for s in daemon.get("/api/v1/silences").json()["silences"]]
    assert silence["id"] in [s["id"] for s in daemon.get("/api/v1/silences?all=true").json()["silences"]]
    assert daemon.get("/api/v1/alerts/" + str(alert["id"])).json()["muted"] is None
    assert daemon.delete("/api/v1/silences/999999").status_code == 404


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"matchers": ["subject=~web["], "duration": "1h"}, 422, "does not compile"),
    ({"matchers": ["not a matcher"], "duration": "1h"}, 422, "is not 'name=value'"),
    ({"matchers": [], "duration": "1h"}, 422, "matchers"),
    ({"matchers": ["a=b"]}, 422, "exactly one of 'duration' or 'ends_at'"),
    ({"matchers": ["a=b"], "duration": "1h", "ends_at": 5}, 422, "exactly one"),
    ({"matchers": ["a=b"], "duration": "soon"}, 422, "invalid duration"),
    ({"matchers": ["a=b"], "duration": "1h", "bogus": 1}, 422, "bogus: unknown field"),
    ({"matchers": ["a=b"], "ends_at": 1}, 422, "not after"),
    (["a=b"], 422, "must be a JSON object"),
])
def test_bad_silences_are_refused_with_the_problem_named(daemon: Daemon, body: object, status: int,
                                                         says: str) -> None:
    before = len(daemon.get("/api/v1/silences?all=true").json()["silences"])
    response = daemon.post("/api/v1/silences", body)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    assert len(daemon.get("/api/v1/silences?all=true").json()["silences"]) == before


def test_malformed_json_huge_bodies_and_wrong_types(daemon: Daemon) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    bad = daemon.session.post(daemon.url + "/api/v1/silences", data=b'{"matchers": [', headers=headers)
    assert bad.status_code == 400 and "malformed JSON" in bad.json()["error"]
    huge = daemon.session.post(daemon.url + "/api/v1/events", data=b'{"kind": "' + b"a" * 10000 + b'"}',
                               headers=headers)
    assert huge.status_code == 413 and "4096 bytes" in huge.json()["error"]
    form = daemon.session.post(daemon.url + "/api/v1/silences", data="a=b",
                               headers={"Authorization": f"Bearer {ADMIN}",
                                        "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    empty = daemon.session.post(daemon.url + "/api/v1/events", data=b"", headers=headers)
    assert empty.status_code == 400 and "empty" in empty.json()["error"]
    assert daemon.get("/api/v1/alerts/abc").status_code == 404
    assert daemon.get("/api/v1/events?limit=0").status_code == 400
    assert daemon.get("/api/v1/events?limit=x").json()["error"] == "limit must be an integer, not 'x'"
    assert daemon.session.put(daemon.url + "/api/v1/alerts").status_code == 405


@pytest.mark.parametrize(("event", "says"), [
    ({"kind": "app.down", "source": "nope", "subject": "s"}, "not an 'external' detector"),
    ({"kind": "app.down", "source": "other", "subject": "s"}, "does not accept kind 'app.down'"),
    ({"kind": "app.down", "source": "ext", "subject": "s", "severity": "fatal"}, "severity"),
    ({"kind": "app.down", "source": "ext", "subject": "s", "labels": {"a": 1}}, "labels.a"),
    ({"kind": "app down!", "source": "ext", "subject": "s"}, "kind"),
    ({"kind": "app.down", "source": "ext"}, "subject: Field required"),
    ({"kind": "app.down", "source": "ext", "subject": "s", "time": 5}, "time: unknown field"),
])
def test_bad_events_never_reach_the_engine(daemon: Daemon, event: dict[str, object], says: str) -> None:
    response = daemon.post("/api/v1/events", event)
    assert response.status_code == 422, response.text
    assert says in response.json()["error"]
    assert not daemon.get("/api/v1/events", params={"subject": "s"}).json()["events"]


def test_event_journal_pages_and_filters(daemon: Daemon) -> None:
    for n in range(5):
        daemon.inject(f"page-{n}", kind="app.note", severity="info")
    deadline = time.monotonic() + 10
    while len(daemon.get("/api/v1/events", params={"kind": "app.note"}).json()["events"]) < 5:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first = daemon.get("/api/v1/events", params={"kind": "app.note", "limit": 2}).json()
    assert [e["subject"] for e in first["events"]] == ["page-4", "page-3"]
    second = daemon.get("/api/v1/events", params={"kind": "app.note", "limit": 2,
                                                  "before_id": first["next_before_id"]}).json()
    assert [e["subject"] for e in second["events"]] == ["page-2", "page-1"]
    assert daemon.get("/api/v1/events", params={"subject": "page-3"}).json()["events"][0]["kind"] == "app.note"


def test_rules_status_nodes_pools(daemon: Daemon) -> None:
    rules = daemon.get("/api/v1/rules").json()
    assert {r["name"] for r in rules["rules"]} == {"app-down", "disk-full", "job-failed", "vip-peer-lost"}
    assert rules["files"] == [str(daemon.config)]
    status = daemon.get("/api/v1/status").json()
    assert status["node"] == "head-a" and "ext" in status["components"]["detector"]
    assert daemon.get("/api/v1/pools/nope").status_code == 404


def test_nodes_show_heartbeat_peers_paths_and_vips(daemon: Daemon) -> None:
    deadline = time.monotonic() + 15
    while True:
        nodes = daemon.get("/api/v1/nodes").json()
        peers = {(p["detector"], p["peer"]): p for p in nodes["peers"]}
        pair = [peers.get(("hb", "head-b")), peers.get(("hb-b", "head-a"))]
        if all(p and p["state"] == "up" and len(p["paths"]) == 2 for p in pair) and len(peers) == 3:
            break
        assert time.monotonic() < deadline, nodes
        time.sleep(0.1)
    assert nodes["node"] == "head-a"
    head_b = peers[("hb", "head-b")]
    assert {p["name"] for p in head_b["paths"]} == {"lan", "backup"}
    assert all(p["alive"] and p["last_seen_ms_ago"] is not None for p in head_b["paths"])
    [vip] = nodes["vips"]
    assert vip["vip"] == "127.0.0.77/32" and vip["interface"] == "lo" and vip["held"] is False
    heads = {h["node"]: h for h in nodes["heads"]}
    assert heads["head-a"]["self"] is True and heads["head-b"]["state"] == "up"
    assert heads["head-b"]["detector"] == "hb" and heads["head-b"]["vips"] == []


def test_nodes_show_a_vip_held_by_a_peer_from_its_beats(daemon: Daemon) -> None:
    # head-c (a real signed beat, as a head running faultmgr would send) says it holds vip-web's address.
    status = {"role": "primary", "vips": ["127.0.0.77"]}
    beating = threading.Thread(target=daemon.beat_as, args=("head-c", "hb-c", status, 3.0), daemon=True)
    beating.start()
    deadline = time.monotonic() + 15
    while True:
        nodes = daemon.get("/api/v1/nodes").json()
        [vip] = nodes["vips"]
        if vip["holder"] == "head-c":
            break
        assert time.monotonic() < deadline, nodes
        time.sleep(0.1)
    beating.join()
    assert vip["held"] is False and vip["holder_source"] == "beat" and vip["holder_age_ms"] is not None
    assert vip["claims"] == [{"node": "head-c", "source": "beat", "age_ms": vip["holder_age_ms"]}]
    head_c = next(h for h in nodes["heads"] if h["node"] == "head-c")
    assert head_c["role"] == "primary" and head_c["vips"] == ["127.0.0.77"] and head_c["detector"] == "hb-c"
    # Once head-c is silent the claim stays, but ages: the dashboard shows how old the news is.
    later = daemon.get("/api/v1/nodes").json()["vips"][0]
    assert later["holder"] == "head-c" and later["holder_age_ms"] >= vip["holder_age_ms"]


def test_pools_show_declared_and_live_weights_from_a_real_haproxy(daemon: Daemon) -> None:
    pools = daemon.get("/api/v1/pools").json()["pools"]
    assert [p["name"] for p in pools] == ["web"]
    web = daemon.get("/api/v1/pools/web").json()
    assert web == pools[0]
    assert web["backend"] == "haproxy" and web["live_error"] is None
    servers = {s["name"]: s for s in web["servers"]}
    assert servers["web1"]["declared_weight"] == 10 and servers["web1"]["weight"] == 10
    # haproxy started web2 at 5: the pools plugin reconciled it to the declared weight at daemon start
    assert servers["web2"]["declared_weight"] == 10 and servers["web2"]["weight"] == 10
    assert servers["web3"]["role"] == "undeclared" and servers["web3"]["weight"] == 3
    assert servers["web1"]["serving"] is True and web["serving"] == 3


def test_reload_is_journalled_and_reported_in_rules(daemon: Daemon) -> None:
    response = daemon.post("/api/v1/reload", {})
    assert response.status_code == 200 and response.json()["ok"] is True
    last = daemon.get("/api/v1/rules").json()["last_reload"]
    assert last["ok"] is True and last["by"] == "alice"
    # the API keeps serving after a reload that leaves its section alone
    assert daemon.get("/api/v1/whoami").status_code == 200
