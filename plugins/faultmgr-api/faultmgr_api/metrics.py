"""Prometheus metrics of one daemon, in a registry of its own (never the process-global one).

Two sources: counters fed live from ``daemon.listeners`` (events, alert changes, notification outcomes) and
from the action runner's outcome callback (action runs, VIP failovers and refusals); and values read from the
daemon at scrape time (alerts by state, outbox depth, rule evaluations, probe latency, heartbeat paths, loop
lag).

Components are read through duck-typed methods, so a plugin lights its metrics up by having them:

- ``latency_histograms()`` on a detector (the ``probe`` detector has it): ``{check type: snapshot}`` with
  ``buckets`` (``(upper bound s, cumulative count)`` pairs), ``sum_s`` and ``count``, for every check
  attempt, not only those that changed a state (events carry latency only then).
- ``path_stats()`` on a heartbeat detector: ``{peer: {path: {"beats": int, "lost": int, "interarrival":
  snapshot}}}``, counted as beats arrive (see :meth:`DaemonCollector._heartbeat_counts`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from faultmgr_api.cluster import HEARTBEAT_TYPES, VIP_TYPES, components_of

if TYPE_CHECKING:
    from faultmgr.daemon import Daemon

log = logging.getLogger("faultmgr.api")

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
        self.failovers = Counter("faultmgr_failovers", "VIP takeovers that added the address on this node "
                                 "(not re-announcements, dry runs or releases)", ["action"], registry=r)
        self.refusals = Counter("faultmgr_failover_refusals", "VIP takeovers refused by the split-brain guard, "
                                "the circuit breaker or a failed fence", ["action"], registry=r)
        self.releases = Counter("faultmgr_vip_releases", "VIP addresses removed from this node by a takeover "
                                "action (peer back with auto_failback, lost connectivity)", ["action"], registry=r)
        self.path_down = Counter("faultmgr_heartbeat_path_down", "Heartbeat paths reported down, by peer and path",
                                 ["detector", "peer", "path"], registry=r)
        r.register(DaemonCollector(daemon))
        self._wrapped: Callable[[str, bool], None] | None = None
        #: Per takeover action, its status before the next run: (last_change, last refusal time).
        self._vip_marks: dict[str, tuple[Any, Any]] = {}

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
        if kind in ("heartbeat.path.down", "ehb.path.down"):
            labels = data.get("labels") or {}
            payload = data.get("payload") or {}
            path = labels.get("path") or payload.get("path") or ""
            self.path_down.labels(str(data.get("source")), str(data.get("subject")), str(path)).inc()

    def action_outcome(self, name: str, ok: bool) -> None:
        inst = self.daemon.config.actions.get(name)
        action_type = inst.type if inst is not None else ""
        outcome = "ok" if ok else "failed"
        self.actions.labels(name, action_type, outcome).inc()
        if action_type == FAILOVER_TYPE:
            self._takeover_outcome(name)

    def _takeover_outcome(self, name: str) -> None:
        """Count what a ``vip.takeover`` run did, from the action's status before and after it.

        The runner hands observers only the name and the ok flag, not the ActionResult, so the action's own
        record tells: ``last_change`` moves only when the address was added or removed here (never for a
        re-announcement, a dry run or a run that found nothing to do) and ``last_refusal`` only when the
        guard, the circuit breaker or the fence refused. Runs of one action are serialised by its lock and
        this is called right after each, so consecutive statuses bracket exactly one run.
        """
        component = self.daemon.instances["action"].get(name)
        if component is None:
            return
        status = component.status()
        mark = (status.get("last_change"), (status.get("last_refusal") or {}).get("time"))
        before = self._vip_marks.get(name, (None, None))
        self._vip_marks[name] = mark
        if mark[0] != before[0]:
            (self.failovers if status.get("held") else self.releases).labels(name).inc()
        if mark[1] != before[1]:
            self.refusals.labels(name).inc()

    # -- wiring ---------------------------------------------------------------------------------------
    def attach(self) -> None:
        """Chain onto the action runner's outcome callback (the daemon publishes no action feed)."""
        runner = getattr(self.daemon, "runner", None)
        if runner is None or self._wrapped is not None:
            return
        previous: Callable[[str, bool], None] = runner.on_outcome
        self._wrapped = previous
        for name, _, component in components_of(self.daemon, "action", (FAILOVER_TYPE,)):
            status = component.status()  # what happened before (a claim at start) is no run's doing
            self._vip_marks[name] = (status.get("last_change"), (status.get("last_refusal") or {}).get("time"))

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
        yield self._probe_latency(daemon)
        yield from self._heartbeat(daemon)
        yield from self._heartbeat_counts(daemon)
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
        missed = GaugeMetricFamily("faultmgr_heartbeat_missed_beats", "Beats overdue now on a path (beat age "
                                   "divided by keepalive, minus one; a gap shorter than the scrape interval "
                                   "leaves no trace here: see faultmgr_heartbeat_beats_lost_total)",
                                   labels=["detector", "peer", "path"])
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



    def _probe_latency(self, daemon: Daemon) -> Metric:
        """Every check attempt's latency, from detectors with ``latency_histograms()``."""
        family = HistogramMetricFamily("faultmgr_probe_latency_seconds", "Latency of every check attempt "
                                       "(retries and timeouts included), by detector and check type",
                                       labels=["detector", "check"])
        for name, component in sorted(daemon.instances["detector"].items()):
            histograms = getattr(component, "latency_histograms", None)
            if histograms is None:
                continue
            for check, snap in histograms().items():
                family.add_metric([name, check], _buckets(snap.buckets), snap.sum_s)
        return family

    def _heartbeat_counts(self, daemon: Daemon) -> Iterator[Metric]:
        """Beats received and lost (sequence gaps) and their inter-arrival, per peer and path, counted by the
        heartbeat detector as beats arrive, so that an outage shorter than the scrape interval still shows.
        Exported only for detectors with ``path_stats()`` (see the module docstring for its shape)."""
        labels = ["detector", "peer", "path"]
        beats = CounterMetricFamily("faultmgr_heartbeat_beats_received", "Beats accepted from a peer on a path",
                                    labels=labels)
        lost = CounterMetricFamily("faultmgr_heartbeat_beats_lost", "Beats missing from a peer's sequence on a "
                                   "path (gaps between consecutive accepted beats)", labels=labels)
        gaps = HistogramMetricFamily("faultmgr_heartbeat_interarrival_seconds", "Time between two consecutive "
                                     "beats from a peer on a path", labels=labels)
        found = False
        for name, _, component in components_of(daemon, "detector", HEARTBEAT_TYPES):
            stats = getattr(component, "path_stats", None)
            if stats is None:
                continue
            found = True
            for peer, paths in stats().items():
                for path, p in paths.items():
                    beats.add_metric([name, peer, path], p["beats"])
                    lost.add_metric([name, peer, path], p["lost"])
                    snap = p["interarrival"]
                    gaps.add_metric([name, peer, path], _buckets(snap["buckets"]), snap["sum_s"])
        if found:
            yield from (beats, lost, gaps)


def _buckets(buckets: Any) -> list[tuple[str, float]]:
    """``(upper bound, cumulative count)`` pairs as HistogramMetricFamily wants them (``+Inf`` spelled so)."""
    return [("+Inf" if bound == float("inf") else repr(float(bound)), count) for bound, count in buckets]
