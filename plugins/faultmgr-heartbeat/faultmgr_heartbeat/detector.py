"""The ``heartbeat`` detector: this node's beats to its cluster peers, and their liveness as events.

Other components (the VIP takeover's split-brain guard) read the state directly::

    hb = runtime.component("detector", "hb")
    hb.peer_state("head-b")    # "up" | "warn" | "dead" | "unknown"
    hb.paths_alive("head-b")   # ["udp0", "serial1"]: paths that delivered within path_deadtime
    hb.peer_status("head-b")   # the status dict of head-b's newest beat, e.g. {"role": "primary"}
    hb.set_status({"role": "standby", "vips": []})   # carried by this node's following beats (replaces all keys)
    hb.update_status("vips", ["10.0.0.100/24"])      # one key changed, the others kept (vip.takeover does this)
    hb.own_status()            # what this node's beats carry now (set by this process, without ping reach)
    hb.path_stats()            # {"head-b": {"udp0": {"beats": 120, "lost": 1, "interarrival": {...}}}}
    hb.ping_reach()            # (2, 2): ping nodes this node reaches, of those configured (None: not measured)
    hb.ping_reach("head-b")    # (0, 2): what head-b reported in its newest beat
    hb.arbiter_view()          # (True, {"head-b"}): the arbiter is heard and hears only head-b (None: no arbiter)
"""

from __future__ import annotations

import abc
import asyncio
import time
from typing import Any, ClassVar

from faultmgr.component import Detector
from faultmgr.event import Severity
from faultmgr.runtime import Runtime
from faultmgr.tasks import stop_task
from faultmgr_heartbeat.arbiter import ArbiterView, hears_from_status
from faultmgr_heartbeat.liveness import Transition
from faultmgr_heartbeat.node import HeartbeatNode
from faultmgr_heartbeat.pingnodes import STATUS_KEY, PingNodes, Reach, ReachComparison, reach_from_status
from faultmgr_heartbeat.settings import BaseHeartbeatSettings, HeartbeatSettings


class NodeDetector(Detector):
    """What both heartbeat detectors share: one :class:`HeartbeatNode`, its lifecycle and query API."""

    #: Prefix of the security event kinds (``heartbeat`` or ``ehb``).
    prefix: ClassVar[str] = "heartbeat"
    settings: BaseHeartbeatSettings

    def __init__(self, name: str, settings: BaseHeartbeatSettings, runtime: Runtime) -> None:
        super().__init__(name, settings, runtime)
        self.node = HeartbeatNode(name, settings, self.watched(), runtime.store, self.log,
                                  self.on_changes, self.on_security, arbiter=self.arbiter_name())
        #: What set_status was last given; the beats carry it plus this node's ping-node reach.
        self._status: dict[str, Any] = {}

    @abc.abstractmethod
    def watched(self) -> list[str]:
        """The node names this detector watches."""

    def arbiter_name(self) -> str | None:
        """The node whose beats are accepted as an arbiter's (not a watched node), if any."""
        return None

    @abc.abstractmethod
    def on_changes(self, changes: list[Transition]) -> None:
        """Turn liveness transitions into events."""

    def check(self) -> list[str]:
        return self.node.check()

    async def start(self) -> None:
        """Refuses to start (``ValueError``) when :meth:`check` finds a problem such as an unsafe key file."""
        problems = self.check()
        if problems:
            raise ValueError(f"{self.prefix} detector {self.name!r}: " + "; ".join(problems))
        if self._status:
            # update_status() before the start (an action reconciled first): the first beats carry it.
            self.node.first_status = self.beat_status({**self.node.first_status, **self._status})
        await self.node.start()

    async def stop(self) -> None:
        await self.node.stop()

    def status(self) -> dict[str, Any]:
        return self.node.status()

    # -- API for other components -----------------------------------------------------------------

    def peer_state(self, name: str) -> str:
        """``"up"``, ``"warn"``, ``"dead"`` or ``"unknown"`` (never heard yet, or not a watched node)."""
        return self.node.liveness.peer_state(name)

    def paths_alive(self, name: str) -> list[str]:
        """Names of the paths on which ``name`` was heard within ``path_deadtime``; empty means dead
        on every path (the split-brain guard's evidence)."""
        return self.node.liveness.paths_alive(name, time.monotonic())

    def peer_status(self, name: str) -> dict[str, Any]:
        """The status dict carried by the newest authenticated beat from ``name``."""
        return self.node.liveness.peer_status(name)

    def set_status(self, status: dict[str, Any]) -> None:
        """Status sent with every following beat (``ValueError`` if it does not fit in a packet)."""
        if self.node.sender is None:
            raise RuntimeError(f"{self.prefix} detector {self.name!r} is not sending")
        self.node.sender.set_status(self.beat_status(status))
        self._status = dict(status)

    def update_status(self, key: str, value: Any) -> None:
        """Set one key of the status the beats carry, keeping the others (``value`` ``None`` removes the key).

        Several components share one detector's beats (the ``vip.takeover`` actions publish ``vips`` and
        ``role``, an eHB reply its ``hears``): each changes its own keys only. Before the detector sends (not
        started yet) the value is kept for its first beats. ``ValueError`` if the status would not fit in a
        packet (nothing is changed then).
        """
        status = {k: v for k, v in self._status.items() if k != key}
        if value is not None:
            status[key] = value
        if self.node.sender is not None:
            self.node.sender.set_status(self.beat_status(status))
        self._status = status

    def own_status(self) -> dict[str, Any]:
        """The status this node's beats carry, as set through :meth:`set_status` and :meth:`update_status`
        (the ping-node reach a detector adds by itself is not included)."""
        return dict(self._status)

    def path_stats(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per watched peer and path, counted as beats are accepted (the counts only grow):
        ``{peer: {path: {"beats": int, "lost": int, "interarrival": {"buckets": [(upper bound s, cumulative
        count), ..., (inf, n)], "sum_s": float, "count": int}}}}``. ``lost`` sums the sequence gaps between
        consecutive accepted beats of one generation on that path; a peer's restart starts a new comparison.
        Read by faultmgr-api's metrics (``faultmgr_heartbeat_beats_received_total`` and the others)."""
        return self.node.liveness.path_stats()

    def beat_status(self, status: dict[str, Any]) -> dict[str, Any]:
        """``status`` as the beats carry it (a detector measuring ping nodes adds their reach)."""
        return dict(status)

    def ping_reach(self, name: str | None = None) -> Reach | None:
        """(reached, configured) ping nodes: this node's (``name`` None; ``None`` when it measures none), or
        what peer ``name`` reported in its newest beat (``None`` when it reported none)."""
        if name is None:
            return None
        return reach_from_status(self.peer_status(name))

    # -- events -----------------------------------------------------------------------------------

    def labels(self, peer: str, path: str | None = None) -> dict[str, str]:
        """Labels of every event about ``peer``: the peer, the path (or the paths still alive), our node."""
        alive = path if path is not None else ",".join(self.paths_alive(peer))
        return {"peer": peer, "path": alive, "node": self.settings.node}

    def on_security(self, started: dict[str, Any] | None, ended: dict[str, Any] | None) -> None:
        """Once per burst of forged packets: a critical event, then an ``ok`` when it has been quiet."""
        labels = {"node": self.settings.node, "path": (started or {}).get("path", "")}
        if started:
            self.emit(f"{self.prefix}.security.forged", self.settings.node, Severity.CRITICAL, labels=labels,
                      payload=started, message=f"{started['count']} forged heartbeat packets within "
                                               f"{started['window_s']:g}s on path {started['path']}")
        if ended:
            self.emit(f"{self.prefix}.security.cleared", self.settings.node, Severity.OK, labels=labels,
                      payload=ended, message="no forged heartbeat packets for a whole window")


class HeartbeatDetector(NodeDetector):
    """Sends beats to cluster peers on every path and reports each peer's and each path's liveness."""

    Settings = HeartbeatSettings
    summary = "authenticated heartbeat between cluster nodes over UDP, broadcast, multicast and serial"
    settings: HeartbeatSettings
    events = {
        "heartbeat.peer.up": "ok: first beat from a peer since start",
        "heartbeat.peer.warn": "warning: a peer has been silent for warntime",
        "heartbeat.peer.dead": "critical: a peer silent on every path for deadtime (or never heard in initdead)",
        "heartbeat.peer.restored": "ok: a late or dead peer is heard again",
        "heartbeat.peer.rebooted": "info: a peer restarted (its generation grew)",
        "heartbeat.path.down": "warning: one path is silent while the peer is heard on another",
        "heartbeat.path.up": "ok: a path reported down delivers again",
        "heartbeat.peer.degraded": "warning: a live peer reaches fewer ping nodes than this node (it reports its "
                                   "count in its beats; ha.cf's ping and ipfail)",
        "heartbeat.peer.recovered": "ok: a degraded peer reaches as many ping nodes as this node again",
        "heartbeat.node.degraded": "warning (subject = this node): this node reaches fewer ping nodes than a live "
                                   "peer",
        "heartbeat.node.recovered": "ok: this node reaches as many ping nodes as that peer again",
        "heartbeat.security.forged": "critical: a burst of packets failing authentication",
        "heartbeat.security.cleared": "ok: the forged-packet burst is over",
    }

    _SEVERITY: ClassVar[dict[str, Severity]] = {
        "peer.up": Severity.OK, "peer.warn": Severity.WARNING, "peer.dead": Severity.CRITICAL,
        "peer.restored": Severity.OK, "peer.rebooted": Severity.INFO,
        "path.down": Severity.WARNING, "path.up": Severity.OK,
        "peer.degraded": Severity.WARNING, "peer.recovered": Severity.OK,
        "node.degraded": Severity.WARNING, "node.recovered": Severity.OK,
    }

    def __init__(self, name: str, settings: HeartbeatSettings, runtime: Runtime) -> None:
        super().__init__(name, settings, runtime)
        self.ping = (PingNodes(settings.ping_nodes, settings.ping_timeout, settings.ping_lost_after)
                     if settings.ping_nodes else None)
        self.reach = ReachComparison()
        self._pinger: asyncio.Task[None] | None = None
        self.node.after_evaluate = self.compare_reach
        self.node.on_arbiter_changes = self.on_arbiter_changes

    def watched(self) -> list[str]:
        return list(self.settings.peers)

    def arbiter_name(self) -> str | None:
        return self.settings.arbiter

    async def start(self) -> None:
        await super().start()
        if self.ping is not None:
            self._pinger = asyncio.get_running_loop().create_task(self._ping_forever(),
                                                                  name=f"heartbeat-ping-{self.name}")

    async def stop(self) -> None:
        await stop_task(self._pinger)
        self._pinger = None
        await super().stop()

    def status(self) -> dict[str, Any]:
        found = super().status()
        if self.ping is not None:
            found["ping"] = {**self.ping.status(), "peers_degraded": sorted(self.reach.degraded),
                             "peers_better": sorted(self.reach.better)}
        if self.node.arbiter_liveness is not None and self.settings.arbiter is not None:
            view = self.arbiter_view()
            seen = self.node.arbiter_liveness.snapshot(time.monotonic())[self.settings.arbiter]
            hears = hears_from_status(seen["status"])
            found["arbiter"] = {"node": self.settings.arbiter, "alive": bool(view and view[0]),
                                "hears": sorted(hears) if hears is not None else None,
                                "state": seen["state"], "last_seen_ms_ago": seen["last_seen_ms_ago"],
                                "generation": seen["generation"], "seq": seen["seq"]}
        return found

    # -- the arbiter (an eHB watcher with reply) ----------------------------------------------------

    def arbiter_view(self) -> ArbiterView | None:
        """``(alive, members it hears)`` of the configured arbiter, ``None`` when there is none. Alive means its
        newest beat was read within deadtime and carries a view; the members are those it heard alive then."""
        live, name = self.node.arbiter_liveness, self.settings.arbiter
        if live is None or name is None:
            return None
        hears = hears_from_status(live.peer_status(name))
        seen = live.last_seen(name)
        alive = hears is not None and seen is not None and time.monotonic() - seen < self.settings.deadtime
        return alive, hears or frozenset()

    def on_arbiter_changes(self, changes: list[Transition]) -> None:
        """Log the arbiter's comings and goings: they are not peer events, but a takeover guarded by the
        arbiter is refused while it is silent, and the operator should be able to see why."""
        for change in changes:
            if change.kind in ("peer.up", "peer.restored"):
                self.log.info("heartbeat %s: arbiter %s heard (%s)", self.name, change.peer,
                              self.node.arbiter_liveness.peer_status(change.peer) if self.node.arbiter_liveness
                              else {})
            elif change.kind == "peer.dead":
                self.log.warning("heartbeat %s: arbiter %s silent for deadtime; a takeover that requires it "
                                 "is refused", self.name, change.peer)

    # -- ping nodes (ha.cf's ping, for ipfail) ------------------------------------------------------

    def beat_status(self, status: dict[str, Any]) -> dict[str, Any]:
        reach = self.ping.reach if self.ping is not None else None
        return {**status, STATUS_KEY: list(reach)} if reach is not None else dict(status)

    def ping_reach(self, name: str | None = None) -> Reach | None:
        if name is None:
            return self.ping.reach if self.ping is not None else None
        return super().ping_reach(name)

    async def _ping_forever(self) -> None:
        assert self.ping is not None
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            before = self.ping.reach
            try:
                reach = await self.ping.measure()
            except Exception:  # a probing bug must not end the measurement for good
                self.log.exception("heartbeat %s: ping-node round failed", self.name)
            else:
                if reach != before and self.node.sender is not None:
                    # Only a change is sent on: the beacon keeps carrying the last status by itself.
                    try:
                        self.node.sender.set_status(self.beat_status(self._status))
                    except ValueError as exc:
                        self.log.error("heartbeat %s: ping-node reach not sent: %s", self.name, exc)
                self.compare_reach()
            await asyncio.sleep(max(0.0, self.settings.ping_interval - (loop.time() - started)))

    def compare_reach(self) -> None:
        """Compare this node's ping-node reach with each live peer's; emit the changes."""
        if self.ping is None:
            return
        live = {peer: self.ping_reach(peer) for peer in self.settings.peers
                if self.peer_state(peer) in ("up", "warn")}
        for kind, peer, detail in self.reach.compare(self.ping.reach, live):
            mine, theirs = detail["reach"], detail["peer_reach"]
            subject = peer if kind.startswith("peer.") else self.settings.node
            worse = peer if kind.startswith("peer.") else self.settings.node
            what = "reaches fewer" if kind.endswith("degraded") else "reaches as many or more"
            self.emit(f"heartbeat.{kind}", subject, self._SEVERITY[kind], labels=self.labels(peer),
                      payload={**detail, "lost": self.ping.lost()},
                      message=f"{worse} {what} ping nodes than its peer (here {mine[0]}/{mine[1]}, "
                              f"{peer} {theirs[0]}/{theirs[1]})")

    def on_changes(self, changes: list[Transition]) -> None:
        for change in changes:
            where = f" on path {change.path}" if change.path and change.kind.startswith("path.") else ""
            self.emit(f"heartbeat.{change.kind}", change.peer, self._SEVERITY[change.kind],
                      labels=self.labels(change.peer, change.path if change.kind.startswith("path.") else None),
                      payload={**change.detail, "peer_status": self.peer_status(change.peer)},
                      message=f"peer {change.peer}: {change.kind.split('.')[1]}{where}")

