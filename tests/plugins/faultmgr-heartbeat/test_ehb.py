"""eHB: two head nodes beat to an external watcher that sees them as one group."""

from __future__ import annotations

from typing import Any

import faultmgr_heartbeat
from faultmgr_heartbeat import EhbDetector, HeartbeatDetector

from faultmgr.component import Detector
from faultmgr.event import Severity
from faultmgr.plugin.registry import TypeRegistry


async def test_member_dead_group_dead_and_restored(harness: Any) -> None:
    pa, pb, pw = (harness.free_port() for _ in range(3))
    watcher = await harness.start("watcher", EhbDetector, group="heads", members=["head-a", "head-b"],
                                  paths=[harness.udp_path(pw)])

    def head(other: str, port: int, other_port: int) -> dict[str, Any]:
        # The head's unicast path sends to its peer and to the watcher.
        return {"peers": [other], "paths": [harness.udp_path(port, other_port, pw)]}

    a = await harness.start("head-a", **head("head-b", pa, pb))
    b = await harness.start("head-b", **head("head-a", pb, pa))
    await harness.wait_for(lambda: watcher.peer_state("head-a") == watcher.peer_state("head-b") == "up",
                           what="members up")
    await harness.wait_for(lambda: a.peer_state("head-b") == b.peer_state("head-a") == "up", what="heads up")
    assert watcher.status()["sent"] == 0  # a watcher only listens

    await harness.stop(a)
    await harness.wait_for(lambda: "ehb.member.dead" in harness.kinds("watcher"), what="member dead")
    dead = harness.events["watcher"][-1]
    assert (dead.subject, dead.severity, dead.labels["group"]) == ("head-a", Severity.WARNING, "heads")
    assert "ehb.group.dead" not in harness.kinds("watcher")

    await harness.stop(b)
    await harness.wait_for(lambda: "ehb.group.dead" in harness.kinds("watcher"), what="group dead")
    group = harness.events["watcher"][-1]
    assert (group.subject, group.severity) == ("heads", Severity.CRITICAL)
    assert group.payload["members"] == {"head-a": "dead", "head-b": "dead"}

    await harness.start("head-b", **head("head-a", pb, pa))
    await harness.wait_for(lambda: "ehb.group.restored" in harness.kinds("watcher"), what="group back")
    assert harness.kinds("watcher") == [
        "ehb.member.up", "ehb.member.up", "ehb.member.dead", "ehb.member.dead", "ehb.group.dead",
        "ehb.member.restored", "ehb.group.restored",
    ]
    restored = harness.events["watcher"][-1]
    assert (restored.subject, restored.severity, restored.payload["back"]) == ("heads", Severity.OK, ["head-b"])
    # The heads' own heartbeat saw the same story from the inside.
    assert "heartbeat.peer.dead" in harness.kinds("head-b")


async def test_group_never_heard_is_dead_after_initdead(harness: Any) -> None:
    await harness.start("watcher", EhbDetector, members=["head-a", "head-b"],
                        paths=[harness.udp_path(harness.free_port())])
    await harness.wait_for(lambda: "ehb.group.dead" in harness.kinds("watcher"), what="group dead")
    assert harness.kinds("watcher") == ["ehb.member.dead", "ehb.member.dead", "ehb.group.dead"]
    assert harness.events["watcher"][-1].subject == "watcher"  # group defaults to the instance name


def test_both_types_register_through_the_hook() -> None:
    registry: TypeRegistry[Detector] = TypeRegistry("detector", Detector)
    faultmgr_heartbeat.faultmgr_register_detectors(registry)
    assert registry.get("heartbeat").cls is HeartbeatDetector  # type: ignore[attr-defined]
    assert registry.get("ehb").cls is EhbDetector  # type: ignore[attr-defined]
