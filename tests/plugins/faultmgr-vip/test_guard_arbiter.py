"""The guard's third opinion: the eHB arbiter must be heard and must not hear the peer before a takeover.

The action runs for real (dry run, on the loopback interface, which never holds the test address); the
heartbeat detector is a stand-in whose answers the test sets (the real one is tested in the heartbeat suite).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from faultmgr_vip import VipTakeover
from faultmgr_vip.guard import arbiter_agrees
from faultmgr_vip.settings import TakeoverSettings

from faultmgr.alert import AlertView
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore

ALERT = AlertView(id=1, fingerprint="fp", rule="peer-dead", subject="head-a", severity="critical", state="firing")
VIP = "10.123.45.100/24"


@dataclass
class Watcher:
    """A heartbeat detector with an arbiter: the peer's state, its live paths, the arbiter's view."""

    state: str = "dead"
    paths: list[str] = field(default_factory=list)
    view: tuple[bool, frozenset[str]] | None = (True, frozenset({"head-a", "head-b"}))
    mine: tuple[int, int] | None = (2, 2)
    theirs: tuple[int, int] | None = None

    def peer_state(self, name: str) -> str:
        return self.state

    def paths_alive(self, name: str) -> list[str]:
        return self.paths

    def arbiter_view(self) -> tuple[bool, frozenset[str]] | None:
        return self.view

    def ping_reach(self, name: str | None = None) -> tuple[int, int] | None:
        return self.mine if name is None else self.theirs


def action(tmp_path: Path, watcher: Watcher, **kw: Any) -> VipTakeover:
    runtime = Runtime(emit=lambda event: None, state_dir=tmp_path, store=KeyValueStore.memory(),
                      components={"detector": {"hb": watcher}}, dry_run=True)
    settings = {"vip": VIP, "interface": "lo", "require_peer_dead_on_all_paths": True, "require_arbiter": True,
                "heartbeat_detector": "hb", "peer": "head-a", "arbiter_wait": 0.3, **kw}
    return VipTakeover("vip", TakeoverSettings(**settings), runtime)


@pytest.mark.parametrize(("view", "verdict", "why"), [
    ((True, frozenset({"head-b"})), True, "the arbiter does not hear head-a either"),
    ((True, frozenset()), True, "the arbiter does not hear head-a either"),
    ((True, frozenset({"head-a", "head-b"})), False,
     "peer head-a alive according to the arbiter: only the link between heads is down"),
    ((False, frozenset({"head-b"})), None, "the arbiter is not heard: no quorum"),
    (None, None, "the heartbeat detector has no arbiter configured"),
])
def test_arbiter_verdict(view: Any, verdict: bool | None, why: str) -> None:
    assert arbiter_agrees(Watcher(view=view), "head-a") == (verdict, why)


def test_a_detector_without_arbiter_support_gives_no_quorum() -> None:
    class Plain:
        def peer_state(self, name: str) -> str:
            return "dead"

        def paths_alive(self, name: str) -> list[str]:
            return []

    assert arbiter_agrees(Plain(), "head-a") == (None, "the heartbeat detector has no arbiter configured")


async def test_split_brain_refused_then_taken_once_the_arbiter_agrees(tmp_path: Path) -> None:
    watcher = Watcher()
    vip = action(tmp_path, watcher)
    result = await vip.run(ALERT, None)
    assert not result.ok
    assert result.detail == ("split-brain guard: peer head-a alive according to the arbiter: only the link between "
                             "heads is down; watching the arbiter while the peer stays dead")
    assert vip.status()["awaiting_arbiter"]["peer"] == "head-a"
    # head-a dies for good: the arbiter stops hearing it too, and the refused takeover goes ahead by itself.
    watcher.view = (True, frozenset({"head-b"}))
    for _ in range(100):
        if "awaiting_arbiter" not in vip.status():
            break
        await asyncio.sleep(0.05)
    assert "awaiting_arbiter" not in vip.status()
    assert vip.status()["last_evidence"] == "peer head-a dead on all paths; the arbiter does not hear head-a either"
    await vip.stop()


async def test_waiting_stops_when_the_peer_is_heard_again(tmp_path: Path) -> None:
    watcher = Watcher()
    vip = action(tmp_path, watcher)
    assert not (await vip.run(ALERT, None)).ok
    watcher.state, watcher.paths = "up", ["lan"]
    for _ in range(100):
        if "awaiting_arbiter" not in vip.status():
            break
        await asyncio.sleep(0.05)
    assert "awaiting_arbiter" not in vip.status()
    assert "last_evidence" not in vip.status(), "no takeover happened"
    await vip.stop()


async def test_the_arbiter_late_by_a_beat_is_waited_for(tmp_path: Path) -> None:
    """The usual failover: this node finds the peer dead a beat before the arbiter says so."""
    watcher = Watcher()
    vip = action(tmp_path, watcher, arbiter_wait=10.0)
    asyncio.get_running_loop().call_later(0.2, lambda: setattr(watcher, "view", (True, frozenset({"head-b"}))))
    result = await vip.run(ALERT, None)
    assert result.ok and result.detail == "dry run: would take over 10.123.45.100/24 on lo", result.detail
    await vip.stop()


async def test_no_quorum_refuses_unless_a_fence_stands_in(tmp_path: Path) -> None:
    silent = Watcher(view=(False, frozenset()))
    unfenced = action(tmp_path, silent)
    refused = await unfenced.run(ALERT, None)
    assert not refused.ok and refused.detail.startswith("split-brain guard: the arbiter is not heard: no quorum")
    await unfenced.stop()
    fenced = action(tmp_path, silent, fence=["true"])
    result = await fenced.run(ALERT, None)
    assert result.ok and result.detail == "dry run: would fence head-a and take over 10.123.45.100/24 on lo"
    assert fenced.status()["last_evidence"].endswith("the arbiter is not heard: no quorum, the fence stands in for it")
    # A fence never overrides an arbiter that still hears the peer: that peer is alive.
    heard = action(tmp_path, Watcher(), fence=["true"])
    alive = await heard.run(ALERT, None)
    assert not alive.ok and "alive according to the arbiter" in alive.detail
    await heard.stop()


async def test_ipfail_evidence_does_not_ask_the_arbiter(tmp_path: Path) -> None:
    """connectivity_failover: the peer is heard and reports lost ping nodes; it releases the address itself, so
    an arbiter that still hears it (on a path other than the public one) does not block the move."""
    watcher = Watcher(state="up", paths=["xover"], theirs=(0, 2))
    result = await action(tmp_path, watcher, connectivity_failover=True).run(ALERT, None)
    assert result.ok, result.detail


def test_require_arbiter_needs_the_dead_peer_evidence() -> None:
    with pytest.raises(ValueError, match="require_arbiter needs require_peer_dead_on_all_paths"):
        TakeoverSettings(vip=VIP, interface="eth0", require_arbiter=True, heartbeat_detector="hb")
    assert not TakeoverSettings(vip=VIP, interface="eth0").require_arbiter
