"""The eHB watcher as an arbiter: it beats back to the heads with the members it hears, and the heads expose
that view (not as a peer) for the VIP guard."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from faultmgr_heartbeat import EhbDetector
from faultmgr_heartbeat.arbiter import hears_from_status
from faultmgr_heartbeat.auth import parse_key_file
from faultmgr_heartbeat.protocol import Packet, decode, encode
from faultmgr_heartbeat.settings import EhbSettings, HeartbeatSettings


async def start_group(harness: Any, extra_target: int | None = None) -> tuple[Any, Any, Any, int, int, int]:
    """A replying watcher and two heads that name it their arbiter; ``extra_target`` also gets the replies."""
    pa, pb, pw = (harness.free_port() for _ in range(3))
    targets = [pa, pb] + ([extra_target] if extra_target else [])
    watcher = await harness.start("watcher", EhbDetector, members=["head-a", "head-b"], reply=True,
                                  paths=[harness.udp_path(pw, *targets)])
    a = await harness.start("head-a", peers=["head-b"], arbiter="watcher", paths=[harness.udp_path(pa, pb, pw)])
    b = await harness.start("head-b", peers=["head-a"], arbiter="watcher", paths=[harness.udp_path(pb, pa, pw)])
    return watcher, a, b, pa, pb, pw


async def test_heads_see_what_the_arbiter_hears(harness: Any) -> None:
    watcher, a, b, *_ = await start_group(harness)
    both = frozenset({"head-a", "head-b"})
    await harness.wait_for(lambda: a.arbiter_view() == b.arbiter_view() == (True, both), what="arbiter hears both")
    assert watcher.status()["hears"] == ["head-a", "head-b"]
    status = b.status()
    assert "watcher" not in status["peers"], "the arbiter is not a peer"
    assert status["arbiter"]["node"] == "watcher" and status["arbiter"]["alive"] is True
    assert status["arbiter"]["hears"] == ["head-a", "head-b"]

    await harness.stop(a)
    await harness.wait_for(lambda: b.arbiter_view() == (True, frozenset({"head-b"})), what="arbiter lost head-a")
    assert "heartbeat.peer.dead" in harness.kinds("head-b", "head-a")

    await harness.stop(watcher)
    await harness.wait_for(lambda: b.arbiter_view() == (False, frozenset({"head-b"})), what="arbiter silent")
    assert b.status()["arbiter"]["alive"] is False
    # Neither its coming nor its going was a peer event: rules matching heartbeat.peer.* never see it.
    assert harness.kinds("head-b", "watcher") == []
    assert {e.subject for e in harness.events["head-b"]} == {"head-a"}


async def test_forged_and_replayed_arbiter_beats_are_dropped(harness: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tap:
        tap.bind(("127.0.0.1", 0))
        tap.settimeout(5)
        _, a, b, pa, pb, _ = await start_group(harness, extra_target=tap.getsockname()[1])
        await harness.wait_for(lambda: b.arbiter_view() == (True, frozenset({"head-a", "head-b"})),
                               what="arbiter heard")
        recorded, _ = tap.recvfrom(2048)
        assert hears_from_status(decode(recorded, parse_key_file(harness.KEY1)).status) is not None
        # A forger without the key says the arbiter hears nobody (which would let a head take over).
        forged = encode(Packet("watcher", 2**63, 1, 0.0, {"hears": []}), parse_key_file(harness.KEY2).send_key)
        before = b.status()["drops"]
        for _ in range(3):
            tap.sendto(forged, ("127.0.0.1", pb))
            tap.sendto(recorded, ("127.0.0.1", pb))
        await harness.wait_for(lambda: b.status()["drops"]["forged"] >= before["forged"] + 3
                               and b.status()["drops"]["replayed"] >= before["replayed"] + 3, what="drops counted")
        assert b.arbiter_view() == (True, frozenset({"head-a", "head-b"}))


def test_settings() -> None:
    base = {"node": "head-a", "key_file": "/dev/null", "paths": [{"type": "udp", "targets": ["10.0.0.2:694"]}]}
    assert HeartbeatSettings(**base, peers=["head-b"]).arbiter is None
    with pytest.raises(ValueError, match="arbiter 'head-b' must be neither this node nor one of its peers"):
        HeartbeatSettings(**base, peers=["head-b"], arbiter="head-b")
    watcher = {"node": "watcher", "key_file": "/dev/null", "members": ["head-a", "head-b"]}
    assert EhbSettings(**watcher, paths=base["paths"], reply=True).sends()
    assert not EhbSettings(**watcher, paths=base["paths"]).sends()
    with pytest.raises(ValueError, match="reply needs somewhere to send"):
        EhbSettings(**watcher, paths=[{"type": "udp"}], reply=True)
    many = {**watcher, "members": [f"{i:02d}".ljust(64, "x") for i in range(20)]}
    with pytest.raises(ValueError, match="do not fit in one beat"):
        EhbSettings(**many, paths=base["paths"], reply=True)
