"""The pagerduty notifier against a local Events API v2 stand-in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from faultmgr_pagerduty import PagerDutyNotifier, PagerDutySettings

from faultmgr import DeliveryError
from faultmgr.alert import AlertView, Notification
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore

ROUTING_KEY = "R0123456789abcdef0123456789abcde"


def alert(subject: str, state: str = "firing", severity: str = "critical", acked: str | None = None) -> AlertView:
    return AlertView(id=len(subject), fingerprint=f"fp-{subject}", rule="peer-dead", subject=subject,
                     severity=severity, state=state, starts_at=1_780_000_000.0, acknowledged_by=acked,
                     annotations={"summary": f"{subject} is dead", "runbook": "https://wiki.invalid/peer-dead"})


def notification(*alerts: AlertView, status: str = "firing") -> Notification:
    return Notification(id=1, dedup_key="msg-1", receiver="pd", kind="alert", status=status, title="peer-dead",
                        alerts=list(alerts), group_labels={"rule": "peer-dead"}, created_at=1_780_000_100.0)


def key_file(tmp_path: Path, key: str = ROUTING_KEY, mode: int = 0o600) -> Path:
    path = tmp_path / "routing.key"
    path.write_text(key + "\n")
    os.chmod(path, mode)
    return path


def make_notifier(tmp_path: Path, url: str, **kw: Any) -> PagerDutyNotifier:
    if "routing_key_file" not in kw:
        kw["routing_key_file"] = key_file(tmp_path)
    runtime = Runtime(emit=lambda e: None, state_dir=tmp_path, store=KeyValueStore.memory())
    return PagerDutyNotifier("pd", PagerDutySettings(api_url=url, timeout="5s", **kw), runtime)


async def test_trigger_acknowledge_resolve_share_one_dedup_key(tmp_path: Path, pagerduty: Any) -> None:
    notifier = make_notifier(tmp_path, pagerduty.url)
    await notifier.start()
    receipts = [
        await notifier.send(notification(alert("node2"), alert("node3", severity="warning"))),
        await notifier.send(notification(alert("node2", acked="alice"), alert("node3", acked="bob"))),
        await notifier.send(notification(alert("node2", "resolved"), alert("node3", "resolved"),
                                         status="resolved")),
    ]
    await notifier.stop()
    assert pagerduty.violations == []
    trigger, ack, resolve = pagerduty.events
    assert [e["event_action"] for e in pagerduty.events] == ["trigger", "acknowledge", "resolve"]
    assert trigger["dedup_key"] == ack["dedup_key"] == resolve["dedup_key"]
    assert trigger["routing_key"] == ROUTING_KEY
    payload = trigger["payload"]
    assert payload["severity"] == "critical"
    assert payload["source"] == "node2, node3"
    assert payload["summary"] == "peer-dead (2 alerts)"
    assert payload["timestamp"] == "2026-05-28T20:26:40Z"
    assert len(payload["custom_details"]["alerts"]) == 2
    assert trigger["links"][0]["href"] == "https://wiki.invalid/peer-dead"
    assert receipts[0] == f"trigger {trigger['dedup_key']}"


async def test_one_incident_per_alert(tmp_path: Path, pagerduty: Any) -> None:
    notifier = make_notifier(tmp_path, pagerduty.url, dedup_by="alert", source="cluster-a")
    await notifier.send(notification(alert("node2"), alert("node3", "resolved")))
    await notifier.stop()
    assert pagerduty.violations == []
    assert [(e["event_action"], e["dedup_key"]) for e in pagerduty.events] == [
        ("trigger", "fp-node2"), ("resolve", "fp-node3")]
    assert pagerduty.events[0]["payload"]["summary"] == "node2 is dead"
    assert pagerduty.events[0]["payload"]["source"] == "cluster-a"


@pytest.mark.parametrize(("status", "headers", "permanent", "retry_after"), [
    (400, {}, True, None),
    (429, {"Retry-After": "30"}, False, 30.0),
    (429, {}, False, None),
    (500, {}, False, None),
])
async def test_error_answers(tmp_path: Path, pagerduty: Any, status: int, headers: dict[str, str],
                             permanent: bool, retry_after: float | None) -> None:
    pagerduty.replies = [(status, headers)]
    notifier = make_notifier(tmp_path, pagerduty.url)
    with pytest.raises(DeliveryError) as info:
        await notifier.send(notification(alert("node2")))
    await notifier.stop()
    assert info.value.permanent is permanent
    assert info.value.retry_after == retry_after
    assert f"HTTP {status}" in str(info.value)


async def test_stand_in_rejects_a_bad_event(pagerduty: Any) -> None:
    async with aiohttp.ClientSession() as session:
        for event in ({"routing_key": ROUTING_KEY, "event_action": "trigger"},
                      {"routing_key": ROUTING_KEY, "event_action": "resolve"},
                      {"routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": "k",
                       "payload": {"summary": "s", "source": "x", "severity": "fatal"}}):
            async with session.post(pagerduty.url, json=event) as resp:
                assert resp.status == 400
    assert len(pagerduty.violations) == 3


async def test_server_down_is_transient(tmp_path: Path, unused_port: int) -> None:
    notifier = make_notifier(tmp_path, f"http://127.0.0.1:{unused_port}/v2/enqueue")
    with pytest.raises(DeliveryError) as info:
        await notifier.send(notification(alert("node2")))
    await notifier.stop()
    assert not info.value.permanent


async def test_routing_key_file_is_checked(tmp_path: Path, pagerduty: Any) -> None:
    open_file = make_notifier(tmp_path, pagerduty.url, routing_key_file=key_file(tmp_path, mode=0o644))
    assert any("chmod 600" in p for p in open_file.check())
    with pytest.raises(ValueError, match="chmod 600"):
        await open_file.start()
    short = make_notifier(tmp_path, pagerduty.url, routing_key_file=key_file(tmp_path, "short"))
    assert any("32 characters" in p for p in short.check())
