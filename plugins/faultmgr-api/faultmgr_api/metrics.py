"""Prometheus metrics of one daemon, in a registry of its own (never the process-global one).

Two sources: counters fed live from ``daemon.listeners`` (events, alert changes, notification outcomes) and
from the action runner's outcome callback (action runs, VIP failovers); and values read from the daemon at
scrape time (alerts by state, outbox depth, rule evaluations, heartbeat paths, loop lag).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from faultmgr_api.cluster import HEARTBEAT_TYPES, VIP_TYPES, components_of

if TYPE_CHECKING:
    from faultmgr.daemon import Daemon

log = logging.getLogger("faultmgr.api")

#: Probe latency buckets in seconds: from a LAN connect (1 ms) to a slow HTTP check (10 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FAILOVER_TYPE = "vip.takeover"


class ApiMetrics:
    """The daemon's metrics; :meth:`observe` is a ``daemon.listeners`` callable."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter("faultmgr_events", "Events ingested, by kind and severity", ["kind", "severity"],
                              registry=r)
        self.alert_changes = Counter("faultmgr_alert_changes", "Alert state changes (pending, firing, resolved, "
                                     "acknowledged, ...)", ["change", "severity"], registry=r)
        self.notifications = Counter("faultmgr_notifications", "Notification delivery outcomes by receiver: "
                                     "sent, retry, forwarded (to the fallback), dead (given up)",
                                     ["receiver", "outcome"], registry=r)
        self.actions = Counter("faultmgr_action_runs", "Action runs by action, type and outcome (ok, failed)",
                               ["action", "type", "outcome"], registry=r)
        self.failovers = Counter("faultmgr_failovers", "VIP takeovers performed (vip.takeover runs), by outcome",
                                 ["action", "outcome"], registry=r)
        self.latency = Histogram("faultmgr_probe_latency_seconds", "Probe latency from probe events' "
                                 "latency_ms, by detector and check type", ["detector", "check"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.path_down = Counter("faultmgr_heartbeat_path_down", "Heartbeat paths reported down, by peer and path",
                                 ["detector", "peer", "path"], registry=r)
        r.register(DaemonCollector(daemon))
        self._wrapped: Callable[[str, bool], None] | None = None

    # -- live feed ------------------------------------------------------------------------------------
    def observe(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "event":
            self._event(data)
        elif kind == "alert":
            self.alert_changes.labels(str(data.get("change")), str(data.get("severity"))).inc()
        elif kind == "notification":
            self.notifications.labels(str(data.get("receiver")), str(data.get("outcome"))).inc()

    def _event(self, data: dict[str, Any]) -> None:
        kind = str(data.get("kind"))
        self.events.labels(kind, str(data.get("severity"))).inc()
        payload = data.get("payload") or {}
        latency = payload.get("latency_ms")
        if kind.startswith("probe.") and isinstance(latency, (int, float)) and not isinstance(latency, bool):
            self.latency.labels(str(data.get("source")), str(payload.get("check", ""))).observe(latency / 1000.0)
        if kind in ("heartbeat.path.down", "ehb.path.down"):
            labels = data.get("labels") or {}
            path = labels.get("path") or payload.get("path") or ""
            self.path_down.labels(str(data.get("source")), str(data.get("subject")), str(path)).inc()

    def action_outcome(self, name: str, ok: bool) -> None:
        inst = self.daemon.config.actions.get(name)
        action_type = inst.type if inst is not None else ""
        outcome = "ok" if ok else "failed"
        self.actions.labels(name, action_type, outcome).inc()
        if action_type == FAILOVER_TYPE:
            self.failovers.labels(name, outcome).inc()

    # -- wiring ---------------------------------------------------------------------------------------
    def attach(self) -> None:
        """Chain onto the action runner's outcome callback (the daemon publishes no action feed)."""
        runner = getattr(self.daemon, "runner", None)
        if runner is None or self._wrapped is not None:
            return
        previous: Callable[[str, bool], None] = runner.on_outcome
        self._wrapped = previous

        def chained(name: str, ok: bool) -> None:
            previous(name, ok)
            try:
                self.action_outcome(name, ok)
            except Exception:
                log.exception("api metrics: action outcome")

        runner.on_outcome = chained

    def detach(self) -> None:
        runner = getattr(self.daemon, "runner", None)
        if runner is not None and self._wrapped is not None:
            runner.on_outcome = self._wrapped
        self._wrapped = None

    def render(self, accept: str) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


class DaemonCollector(Collector):
    """Values read from the daemon at scrape time."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def describe(self) -> list[Metric]:
        return []  # collected lazily: the daemon's parts may not exist when the registry is built

    def collect(self) -> Iterator[Metric]:
        daemon = self.daemon
        yield from self._engine(daemon)
        yield from self._heartbeat(daemon)
        lag = GaugeMetricFamily("faultmgr_event_loop_lag_seconds", "How late the event loop runs a timer "
                                "(latest and highest since start)", labels=["which"])
        lag.add_metric(["last"], daemon.loop_lag_ms / 1000.0)
        lag.add_metric(["max"], daemon.loop_lag_max_ms / 1000.0)
        yield lag
        start = GaugeMetricFamily("faultmgr_start_time_seconds", "When the daemon started (epoch seconds)")
        start.add_metric([], daemon.started_at)
        yield start

    def _engine(self, daemon: Daemon) -> Iterator[Metric]:
        engine = daemon.engine
        evaluations = CounterMetricFamily("faultmgr_rule_evaluations", "Rule conditions evaluated against events")
        evaluations.add_metric([], engine.evaluations)
        yield evaluations
        alerts = GaugeMetricFamily("faultmgr_alerts", "Live alerts by state and severity", labels=["state",
                                   "severity"])
        acked = GaugeMetricFamily("faultmgr_alerts_acknowledged", "Live alerts acknowledged, by severity",
                                  labels=["severity"])
        counts: dict[tuple[str, str], int] = {(s, v): 0 for s in ("pending", "firing")
                                              for v in ("info", "warning", "critical")}
        acks: dict[str, int] = {v: 0 for v in ("info", "warning", "critical")}
        for view in engine.alert_views():
            counts[(view.state, view.severity)] = counts.get((view.state, view.severity), 0) + 1
            if view.acknowledged_by:
                acks[view.severity] = acks.get(view.severity, 0) + 1
        for (state, severity), n in sorted(counts.items()):
            alerts.add_metric([state, severity], n)
        for severity, n in sorted(acks.items()):
            acked.add_metric([severity], n)
        yield alerts
        yield acked
        silences = GaugeMetricFamily("faultmgr_silences_active", "Silences in force")
        now = daemon.clock.now()
        silences.add_metric([], sum(1 for s in engine.silences.listing(now) if s.active(now)))
        yield silences
        depth = GaugeMetricFamily("faultmgr_outbox_depth", "Notifications waiting in the outbox, by receiver",
                                  labels=["receiver"])
        for receiver in daemon.config.receivers:
            depth.add_metric([receiver], daemon.outbox.depth(receiver))
        yield depth

    def _heartbeat(self, daemon: Daemon) -> Iterator[Metric]:
        up = GaugeMetricFamily("faultmgr_heartbeat_peer_up", "1 when the peer is up, 0 otherwise",
                               labels=["detector", "peer", "state"])
        last = GaugeMetricFamily("faultmgr_heartbeat_last_beat_age_seconds", "Time since the last beat from "
                                 "a peer on a path", labels=["detector", "peer", "path"])
        seq = GaugeMetricFamily("faultmgr_heartbeat_path_seq", "Newest beat sequence number heard per path: "
                                "mean inter-arrival = 1 / rate(this)", labels=["detector", "peer", "path"])
        missed = GaugeMetricFamily("faultmgr_heartbeat_missed_beats", "Beats missed in a row on a path (beat "
                                   "age divided by keepalive, minus one)", labels=["detector", "peer", "path"])
        vip = GaugeMetricFamily("faultmgr_vip_held", "1 when this node holds the VIP", labels=["action", "vip"])
        for name, _, component in components_of(daemon, "detector", HEARTBEAT_TYPES):
            keepalive = float(getattr(component.settings, "keepalive", 1.0) or 1.0)
            try:
                peers = component.status().get("peers") or {}
            except Exception:
                continue
            for peer, info in peers.items():
                up.add_metric([name, peer, str(info.get("state"))], 1.0 if info.get("state") == "up" else 0.0)
                for path, p in (info.get("paths") or {}).items():
                    age_ms = p.get("last_seen_ms_ago")
                    if age_ms is None:
                        continue
                    last.add_metric([name, peer, path], age_ms / 1000.0)
                    seq.add_metric([name, peer, path], float(p.get("seq") or 0))
                    missed.add_metric([name, peer, path], max(0, int(age_ms / 1000.0 / keepalive) - 1))
        for name, _, component in components_of(daemon, "action", VIP_TYPES):
            status = component.status()
            vip.add_metric([name, str(status.get("vip"))], 1.0 if status.get("held") else 0.0)
        yield from (up, last, seq, missed, vip)


