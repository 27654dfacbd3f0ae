"""The demo's story: four faults injected one after another into a running cluster, and what each caused.

Each stage injects its fault, waits (with a limit) for what should follow: the detection, the action, the
page, and then gathers from the journals, the sinks and the client everything that happened in its window.
A stage whose expectation did not come in time is still reported, with what is missing.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faultmgr_demo import observe
from faultmgr_demo.cluster import Cluster
from faultmgr_demo.progress import Progress
from faultmgr_demo.topology import HEADS

DAEMONS = (*HEADS, "watcher")


@dataclass
class Stage:
    """One fault and its consequences."""

    key: str
    title: str
    kinds: tuple[str, ...]
    started: float = 0.0
    ended: float = 0.0
    injections: list[tuple[float, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    def inject(self, text: str) -> None:
        """Record that a fault (or a repair) is injected now."""
        self.injections.append((time.time(), text))


class Story:
    """Runs the stages on a cluster that is up."""

    def __init__(self, cluster: Cluster, progress: Progress) -> None:
        self.cluster = cluster
        self.progress = progress
        self.stages: list[Stage] = []

    # -- what the stages wait for --------------------------------------------------------------------------

    def _state(self, node: str) -> Any:
        return self.cluster.configs.state_dir(node)

    def action_done(self, node: str, action: str, phase: str, since: float) -> Callable[[], bool]:
        """Has ``node`` finished running ``action`` (``fire`` or ``resolve``) since ``since``?"""
        return lambda: any(r["action"] == action and r["phase"] == phase and r["ended_at"]
                           for r in observe.action_runs(self._state(node), since))

    def event_seen(self, node: str, kind: str, since: float) -> Callable[[], bool]:
        """Has ``node`` journalled an event of ``kind`` since ``since``?"""
        return lambda: bool(observe.events(self._state(node), since, kind))

    def mail_about(self, text: str, since: float) -> Callable[[], bool]:
        """Has the pager gateway received a mail whose subject contains ``text``?"""
        return lambda: any(text in m.get("subject", "") for m in observe.json_lines(self.cluster.mails, since))

    def trap_since(self, since: float) -> Callable[[], bool]:
        """Has the management station received any trap?"""
        return lambda: bool(observe.json_lines(self.cluster.traps, since))

    def expect(self, stage: Stage, text: str, predicates: list[Callable[[], bool]], timeout: float = 20) -> None:
        """Wait for every predicate; on timeout note what is missing and go on."""
        if not self.progress.wait(text, lambda: all(p() for p in predicates), timeout):
            stage.missing.append(f"{text} (not within {timeout:g}s)")

    # -- the stages ----------------------------------------------------------------------------------------

    def real_server_fails(self) -> Stage:
        """Stage 1: web1 is killed, then started again."""
        stage = Stage("real-server-fails", "a real server fails and comes back", ("probe.*",))
        stage.started = time.time()
        stage.inject("web1's HTTP server killed (SIGKILL)")
        self.cluster.crash_real_server("web1")
        pool = self.cluster.layout.pool
        self.expect(stage, "web1 down: waiting for the probes, the pool action and the page", [
            self.action_done("head-a", "web-out", "fire", stage.started) if pool else (lambda: True),
            self.mail_about("web1", stage.started)])
        self.progress.wait("client traffic on the remaining servers", lambda: False, 1.0)
        back = time.time()
        stage.inject("web1's HTTP server started again")
        self.cluster.start_real_server("web1")
        self.expect(stage, "web1 back: waiting for the probes to rise and the weight to be restored", [
            self.action_done("head-a", "web-out", "resolve", back) if pool
            else self.event_seen("head-a", "probe.ok", back)])
        return self.finish(stage)

    def primary_dies(self) -> Stage:
        """Stage 2: head-a loses power, then boots again as standby."""
        stage = Stage("primary-head-dies", "the primary head dies, then boots again",
                      ("heartbeat.peer.*", "ehb.member.*"))
        stage.started = time.time()
        stage.inject("head-a powered off: every process SIGKILLed, link down")
        self.cluster.power_off("head-a")
        self.expect(stage, "head-a dead: waiting for head-b to take over the VIP and page", [
            self.action_done("head-b", "vip", "fire", stage.started),
            lambda: self.cluster.holder() == "head-b",
            self.mail_about("head-a", stage.started)])
        self.progress.wait("client traffic through head-b", lambda: False, 1.0)
        back = time.time()
        stage.inject("head-a boots again (HAProxy and faultmgr restarted; it does not hold the VIP)")
        self.cluster.power_on_head("head-a")
        self.expect(stage, "head-a back: waiting for head-b to hear it again", [
            self.event_seen("head-b", "heartbeat.peer.restored", back)], timeout=20)
        return self.finish(stage)

    def forged_heartbeat(self) -> Stage:
        """Stage 3: heartbeats signed with a wrong key, from the client."""
        stage = Stage("forged-heartbeat", "forged heartbeats (wrong key) arrive",
                      ("*.security.*",))
        stage.started = time.time()
        stage.inject("20 heartbeats claiming to be head-a, signed with a random key, sent from the client")
        self.cluster.forge_heartbeats()
        self.expect(stage, "waiting for the heads and the watcher to raise a security alert", [
            self.event_seen("head-b", "heartbeat.security.forged", stage.started),
            self.event_seen("watcher", "ehb.security.forged", stage.started),
            self.mail_about("forged", stage.started), self.trap_since(stage.started)])
        self.expect(stage, "waiting for the forged-packet burst to be declared over", [
            self.event_seen("watcher", "ehb.security.cleared", stage.started)], timeout=15)
        return self.finish(stage)

    def both_heads_die(self) -> Stage:
        """Stage 4: both heads lose power; the eHB watcher pages."""
        stage = Stage("both-heads-die", "both heads die", ("ehb.member.*", "ehb.group.*"))
        stage.started = time.time()
        stage.inject("head-a and head-b powered off at once")
        for head in HEADS:
            self.cluster.power_off(head)
        self.expect(stage, "both heads dead: waiting for the eHB watcher to page", [
            self.event_seen("watcher", "ehb.group.dead", stage.started),
            self.mail_about("BOTH head nodes are dead", stage.started)])
        self.progress.wait("measuring the client's outage", lambda: False, 1.0)
        return self.finish(stage)

    def run(self) -> list[Stage]:
        """Every stage in order (a signal interrupts it with an exception; the caller cleans up)."""
        plays = (self.real_server_fails, self.primary_dies, self.forged_heartbeat, self.both_heads_die)
        for number, play in enumerate(plays, 1):
            self.progress.prefix = f"[{number}/{len(plays)}] "
            self.stages.append(play())
            self.progress.note(f"done: {self.stages[-1].title}")
            time.sleep(0.5)
        self.progress.prefix = ""
        return self.stages

    # -- gathering -----------------------------------------------------------------------------------------

    def finish(self, stage: Stage) -> Stage:
        """Wait for the journals' next batch write, then gather the stage's window."""
        self.progress.wait("reading the journals", lambda: False, 1.2)
        stage.ended = time.time()
        stage.record = gather(self.cluster, stage)
        return stage


def _ms(t: float, stage: Stage) -> int:
    return round((t - stage.started) * 1000)


def gather(cluster: Cluster, stage: Stage) -> dict[str, Any]:
    """The stage's timeline: injections, detections, actions, mails and traps, and the client's view; and the
    alerts that fired (by rule: the shipped rules' names)."""
    start, end = stage.started, stage.ended
    entries: list[dict[str, Any]] = [{"at_ms": _ms(t, stage), "type": "fault", "node": "", "text": text}
                                     for t, text in stage.injections]
    detected, actions = [], []
    fired: list[dict[str, Any]] = []
    for node in DAEMONS:
        state = cluster.configs.state_dir(node)
        seen: set[tuple[str, str]] = set()
        for event in observe.events(state, start):
            if event["time"] > end or not any(fnmatch.fnmatch(event["kind"], k) for k in stage.kinds):
                continue
            if (event["kind"], event["subject"]) in seen:
                continue
            seen.add((event["kind"], event["subject"]))
            item = {"node": node, "kind": event["kind"], "subject": event["subject"],
                    "severity": event["severity"], "time": event["time"], "after_ms": _ms(event["time"], stage)}
            detected.append(item)
            entries.append({"at_ms": item["after_ms"], "type": "detected", "node": node,
                            "text": f"{event['kind']} {event['subject']} ({event['severity']})"})
        fired.extend({"node": node, "rule": alert["rule"], "subject": alert["subject"],
                      "severity": alert["severity"], "after_ms": _ms(alert["starts_at"], stage)}
                     for alert in observe.alerts(state, start) if alert["starts_at"] <= end)
        for run in observe.action_runs(state, start):
            if run["started_at"] > end:
                continue
            item = {"node": node, **run, "after_ms": _ms(run["ended_at"] or run["started_at"], stage)}
            actions.append(item)
            entries.append({"at_ms": item["after_ms"], "type": "action", "node": node,
                            "text": f"{run['action']} ({run['phase']}): {run['state']} {run['detail']}".strip()})
    mails = [m for m in observe.json_lines(cluster.mails, start) if m["time"] <= end]
    traps = [t for t in observe.json_lines(cluster.traps, start) if t["time"] <= end]
    notified = []
    for mail in mails:
        sender = mail_sender(mail["from"])
        notified.append({"via": "mail", "to": mail["to"], "from": sender, "subject": mail["subject"],
                         "after_ms": _ms(mail["time"], stage)})
        entries.append({"at_ms": _ms(mail["time"], stage), "type": "mail", "node": sender,
                        "text": f"to {', '.join(mail['to'])}: {mail['subject']}"})
    senders = {} if cluster.layout.dry_run else {ip: node for node, ip in cluster.layout.addresses.items()}
    for trap in traps:
        summary = trap_summary(trap)
        sender = senders.get(trap["from"], trap["from"])
        notified.append({"via": "trap", "from": sender, "summary": summary, "after_ms": _ms(trap["time"], stage),
                         "received_by": trap.get("receiver", "faultmgr-demo")})
        entries.append({"at_ms": _ms(trap["time"], stage), "type": "trap", "node": "" if sender == "127.0.0.1" else sender,
                        "text": f"to the management station: {summary}"})
    client = observe.client_report(cluster.client_log, start, end)
    entries.sort(key=lambda e: e["at_ms"])
    return {"stage": stage.key, "title": stage.title, "dry_run": cluster.layout.dry_run,
            "started_at": start, "duration_ms": _ms(end, stage), "detected": detected, "alerts": fired,
            "actions": actions, "notified": notified, "client": client.to_dict(), "missing": stage.missing, "timeline": entries}


def mail_sender(address: str) -> str:
    """The node in the demo's sender addresses (``faultmgr@head-a.demo.invalid`` -> ``head-a``)."""
    domain = address.rpartition("@")[2]
    return domain.split(".", 1)[0] or address


def trap_summary(trap: dict[str, Any]) -> str:
    """What a trap says: raised, cleared or acknowledged (its notification OID), and the alert's summary
    (its longest text value)."""
    from faultmgr_snmp.mib import ALERT_ACKNOWLEDGED, ALERT_CLEARED, ALERT_DESCRIPTION, ALERT_RAISED

    varbinds = trap.get("varbinds", {})
    values = [v for v in varbinds.values() if isinstance(v, str) and not v.startswith("0x")]
    if not values:
        return str(trap.get("undecoded", "trap"))
    state = {ALERT_RAISED: "[RAISED]", ALERT_CLEARED: "[CLEARED]", ALERT_ACKNOWLEDGED: "[ACKNOWLEDGED]"}
    text = varbinds.get(ALERT_DESCRIPTION) or max(values, key=len)
    return f"{state.get(trap.get('trap_oid', ''), '[TRAP]')} {text}"
