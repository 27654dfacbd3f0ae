"""The guard's ipfail evidence: a live peer that lost ping nodes this node reaches, and its mirror."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from faultmgr_vip.guard import isolated_here, peer_dead_on_all_paths, peer_isolated
from faultmgr_vip.settings import TakeoverSettings


@dataclass
class Watcher:
    """What a heartbeat detector with ping nodes answers (the real one is tested in the heartbeat suite)."""

    state: str = "up"
    mine: tuple[int, int] | None = (2, 2)
    theirs: tuple[int, int] | None = (0, 2)
    paths: list[str] = field(default_factory=lambda: ["xover"])

    def peer_state(self, name: str) -> str:
        return self.state

    def paths_alive(self, name: str) -> list[str]:
        return self.paths

    def ping_reach(self, name: str | None = None) -> tuple[int, int] | None:
        return self.mine if name is None else self.theirs


def test_live_peer_that_lost_ping_nodes_is_evidence() -> None:
    watcher = Watcher()
    assert peer_dead_on_all_paths(watcher, "head-a")[0] is False
    ok, why = peer_isolated(watcher, "head-a")
    assert ok and why == "peer head-a reaches 0 of 2 ping node(s), this node all 2"
    assert isolated_here(watcher, "head-a")[0] is False


@pytest.mark.parametrize(("watcher", "because"), [
    (Watcher(mine=(1, 2)), "this node reaches 1 of 2 ping node(s), not all"),
    (Watcher(mine=(0, 0), theirs=(0, 0)), "peer head-a reaches all its 0 ping node(s)"),
    (Watcher(theirs=(2, 2)), "peer head-a reaches all its 2 ping node(s)"),
    (Watcher(theirs=None), "ping-node reach unknown (peer head-a: None, here: (2, 2))"),
    (Watcher(mine=None), "ping-node reach unknown (peer head-a: (0, 2), here: None)"),
    (Watcher(state="dead"), "peer head-a is not alive"),
    (Watcher(state="unknown"), "peer head-a is not alive"),
])
def test_no_evidence_without_a_clear_difference(watcher: Watcher, because: str) -> None:
    assert peer_isolated(watcher, "head-a") == (False, because)


def test_the_node_that_lost_ping_nodes_sees_itself_isolated() -> None:
    watcher = Watcher(mine=(0, 2), theirs=(2, 2), state="warn")
    assert isolated_here(watcher, "head-b") == (True, "this node reaches 0 of 2 ping node(s), peer head-b all 2")
    assert peer_isolated(watcher, "head-b")[0] is False
    assert isolated_here(Watcher(mine=(0, 2), theirs=(1, 2)), "head-b")[0] is False, "both degraded: stay put"


def test_a_watcher_without_ping_nodes_gives_no_evidence() -> None:
    class Plain:
        def peer_state(self, name: str) -> str:
            return "up"

        def paths_alive(self, name: str) -> list[str]:
            return []

    assert peer_isolated(Plain(), "p") == (False, "the heartbeat detector does not measure ping nodes")


def test_connectivity_failover_needs_the_detector() -> None:
    with pytest.raises(ValueError, match="connectivity_failover needs heartbeat_detector"):
        TakeoverSettings(vip="10.0.0.100/24", interface="eth0", connectivity_failover=True)
    assert not TakeoverSettings(vip="10.0.0.100/24", interface="eth0").connectivity_failover
