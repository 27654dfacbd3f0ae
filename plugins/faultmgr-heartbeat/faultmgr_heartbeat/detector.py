"""The ``heartbeat`` detector: this node's beats to its cluster peers, and their liveness as events.

Other components (the VIP takeover's split-brain guard) read the state directly::

    hb = runtime.component("detector", "hb")
    hb.peer_state("head-b")    # "up" | "warn" | "dead" | "unknown"
    hb.paths_alive("head-b")   # ["udp0", "serial1"]: paths that delivered within path_deadtime
    hb.peer_status("head-b")   # the status dict of head-b's newest beat, e.g. {"role": "primary"}
    hb.set_status({"role": "standby", "vips": []})   # carried by this node's following beats
"""

from __future__ import annotations

import abc
import time
from typing import Any, ClassVar

from faultmgr.component import Detector
from faultmgr.event import Severity
from faultmgr.runtime import Runtime
from faultmgr_heartbeat.liveness import Transition
from faultmgr_heartbeat.node import HeartbeatNode
from faultmgr_heartbeat.settings import BaseHeartbeatSettings, HeartbeatSettings


class NodeDetector(Detector):
    """What both heartbeat detectors share: one :class:`HeartbeatNode`, its lifecycle and query API."""

    #: Prefix of the security event kinds (``heartbeat`` or ``ehb``).
    prefix: ClassVar[str] = "heartbeat"
    settings: BaseHeartbeatSettings

    def __init__(self, name: str, settings: BaseHeartbeatSettings, runtime: Runtime) -> None:
        super().__init__(name, settings, runtime)
        self.node = HeartbeatNode(name, settings, self.watched(), runtime.store, self.log,
                                  self.on_changes, self.on_security)

    @abc.abstractmethod
    def watched(self) -> list[str]:
        """The node names this detector watches."""

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
        self.node.sender.set_status(status)

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
        "heartbeat.security.forged": "critical: a burst of packets failing authentication",
        "heartbeat.security.cleared": "ok: the forged-packet burst is over",
    }

    _SEVERITY: ClassVar[dict[str, Severity]] = {
        "peer.up": Severity.OK, "peer.warn": Severity.WARNING, "peer.dead": Severity.CRITICAL,
        "peer.restored": Severity.OK, "peer.rebooted": Severity.INFO,
        "path.down": Severity.WARNING, "path.up": Severity.OK,
    }

    def watched(self) -> list[str]:
        return list(self.settings.peers)

    def on_changes(self, changes: list[Transition]) -> None:
        for change in changes:
            where = f" on path {change.path}" if change.path and change.kind.startswith("path.") else ""
            self.emit(f"heartbeat.{change.kind}", change.peer, self._SEVERITY[change.kind],
                      labels=self.labels(change.peer, change.path if change.kind.startswith("path.") else None),
                      payload={**change.detail, "peer_status": self.peer_status(change.peer)},
                      message=f"peer {change.peer}: {change.kind.split('.')[1]}{where}")

