"""The ``ehb`` detector (external heartbeat): a watcher outside the cluster that sees its head nodes as a group.

The head nodes run the ``heartbeat`` detector with a unicast path whose ``targets`` include the watcher's
address; the watcher runs ``ehb`` with the same key file and ``members: [head-a, head-b]``. One member
silent for deadtime is a warning (``ehb.member.dead``); every member dead is critical (``ehb.group.dead``,
subject = the group), which the shipped rules page for. Any member heard again restores the group.

With ``reply: true`` the watcher is an arbiter (:mod:`faultmgr_heartbeat.arbiter`): it beats back to the
members, and each beat's status lists the members it hears alive (``{"hears": ["head-a"]}``), updated at
the evaluation that sees a member come or go.
"""

from __future__ import annotations

from typing import Any, ClassVar

from faultmgr.event import Severity
from faultmgr.runtime import Runtime
from faultmgr_heartbeat.arbiter import HEARS_KEY
from faultmgr_heartbeat.detector import NodeDetector
from faultmgr_heartbeat.liveness import DEAD, UP, WARN, Transition
from faultmgr_heartbeat.settings import EhbSettings


class EhbDetector(NodeDetector):
    """Watches a group of nodes' beats; pages when the whole group is dead."""

    Settings = EhbSettings
    summary = "external heartbeat (eHB): watches a group of head nodes, critical when all are dead"
    prefix = "ehb"
    settings: EhbSettings
    events = {
        "ehb.member.up": "ok: first beat from a member since start",
        "ehb.member.dead": "warning: one member silent for deadtime (or never heard in initdead)",
        "ehb.member.restored": "ok: a dead member is heard again",
        "ehb.group.dead": "critical: every member of the group is dead (subject: the group)",
        "ehb.group.restored": "ok: a member of a dead group is heard again",
        "ehb.path.down": "warning: one path from a member is silent while another delivers",
        "ehb.path.up": "ok: that path delivers again",
        "ehb.security.forged": "critical: a burst of packets failing authentication",
        "ehb.security.cleared": "ok: the forged-packet burst is over",
    }

    _MEMBER: ClassVar[dict[str, tuple[str, Severity]]] = {
        "peer.up": ("ehb.member.up", Severity.OK),
        "peer.dead": ("ehb.member.dead", Severity.WARNING),
        "path.down": ("ehb.path.down", Severity.WARNING),
        "path.up": ("ehb.path.up", Severity.OK),
    }

    def __init__(self, name: str, settings: EhbSettings, runtime: Runtime) -> None:
        super().__init__(name, settings, runtime)
        self.group = settings.group or name
        self.group_dead = False
        #: Members reported dead (a late member is still alive for eHB: no event).
        self.dead_members: set[str] = set()
        #: What the replies say now (None before the first one is set).
        self.hears: list[str] | None = None
        if settings.reply:
            self.node.first_status = {HEARS_KEY: []}
            # Kept among the keys the replies carry, so that another key's update never drops the view.
            self._status[HEARS_KEY] = []
            self.node.after_evaluate = self.publish_view

    async def start(self) -> None:
        await super().start()
        # The first replies say "hears nobody yet" (node.first_status); evaluations update it from there.
        self.hears = [] if self.settings.reply else None

    def status(self) -> dict[str, Any]:
        found = super().status()
        if self.settings.reply:
            found["hears"] = self.hears
        return found

    def publish_view(self) -> None:
        """Carry the members heard alive (up or late, as eHB counts them) in the following replies."""
        states = self.node.liveness.states()
        hears = sorted(name for name, state in states.items() if state in (UP, WARN))
        if hears != self.hears and self.node.sender is not None:
            self.update_status(HEARS_KEY, hears)
            self.hears = hears

    def watched(self) -> list[str]:
        return list(self.settings.members)

    def on_changes(self, changes: list[Transition]) -> None:
        for change in changes:
            self._member_event(change)
        states = self.node.liveness.states()
        if not self.group_dead and all(state == DEAD for state in states.values()):
            self.group_dead = True
            self.emit("ehb.group.dead", self.group, Severity.CRITICAL,
                      labels={"group": self.group, "node": self.settings.node},
                      payload={"members": states},
                      message=f"eHB group {self.group}: every member is dead ({', '.join(states)})")
        elif self.group_dead and any(state in (UP, WARN) for state in states.values()):
            self.group_dead = False
            back = sorted(name for name, state in states.items() if state in (UP, WARN))
            self.emit("ehb.group.restored", self.group, Severity.OK,
                      labels={"group": self.group, "node": self.settings.node},
                      payload={"members": states, "back": back},
                      message=f"eHB group {self.group}: {', '.join(back)} heard again")

    def _member_event(self, change: Transition) -> None:
        if change.kind == "peer.restored":
            if change.peer not in self.dead_members:
                return  # back from late only: eHB never reported it
            kind, severity = "ehb.member.restored", Severity.OK
        elif change.kind in self._MEMBER:
            kind, severity = self._MEMBER[change.kind]
        else:
            return  # peer.warn, peer.rebooted: not eHB events
        if change.kind == "peer.dead":
            self.dead_members.add(change.peer)
        elif change.kind == "peer.restored":
            self.dead_members.discard(change.peer)
        is_path = change.kind.startswith("path.")
        labels = {**self.labels(change.peer, change.path if is_path else None), "group": self.group,
                  "member": change.peer}
        self.emit(kind, change.peer, severity, labels=labels,
                  payload={**change.detail, "group": self.group},
                  message=f"eHB group {self.group}: member {change.peer} {kind.rsplit('.', 1)[1]}"
                          + (f" on path {change.path}" if is_path else ""))
