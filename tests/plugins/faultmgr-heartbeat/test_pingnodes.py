"""Ping nodes (ha.cf's ``ping``): this node's reach travels in its beats and is compared with the peer's."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from faultmgr_heartbeat.pingnodes import ReachComparison, reach_from_status
from faultmgr_heartbeat.protocol import MAX_PACKET

from faultmgr.event import Severity


@pytest.fixture
def listener() -> Iterator[str]:
    """A closed TCP port on loopback: the connection is refused, which proves the host is up (an answer)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: refused, and no one else takes the port
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def silent() -> Iterator[str]:
    """A ping node that never answers: a listener whose accept queue is full drops every further SYN, so
    connecting times out (no network of the host's is involved, whatever it routes)."""
    with socket.socket() as sock, socket.socket() as filler:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        filler.connect(sock.getsockname())
        yield f"127.0.0.1:{sock.getsockname()[1]}"


PING = {"ping_interval": "100ms", "ping_timeout": "100ms", "ping_lost_after": 2}


async def pair(harness: Any, a_nodes: list[str], b_nodes: list[str]) -> tuple[Any, Any, int, int]:
    pa, pb = harness.free_port(), harness.free_port()
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(pa, pb)], ping_nodes=a_nodes, **PING)
    b = await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)], ping_nodes=b_nodes, **PING)
    return a, b, pa, pb


async def test_reach_travels_in_beats_beside_the_status(harness: Any, listener: str, silent: str) -> None:
    a, b, _, _ = await pair(harness, [listener], [listener, silent])
    b.set_status({"role": "standby"})
    await harness.wait_for(lambda: a.ping_reach("b") == (1, 2), what="b's reach in its beats")
    assert a.peer_status("b")["role"] == "standby"  # set_status keeps the reach, the reach keeps the status
    assert a.ping_reach() == (1, 1) and b.ping_reach() == (1, 2)
    assert b.status()["ping"]["lost"] == [silent]


async def test_worse_peer_is_degraded_and_recovers(harness: Any, listener: str, silent: str) -> None:
    a, b, pa, pb = await pair(harness, [listener, listener], [listener, silent])
    await harness.wait_for(lambda: "heartbeat.peer.degraded" in harness.kinds("a"), what="b degraded")
    event = next(e for e in harness.events["a"] if e.kind == "heartbeat.peer.degraded")
    assert (event.subject, event.severity, event.labels["peer"]) == ("b", Severity.WARNING, "b")
    assert event.payload["reach"] == [2, 2] and event.payload["peer_reach"] == [1, 2]
    await harness.wait_for(lambda: "heartbeat.node.degraded" in harness.kinds("b"), what="b sees itself worse")
    mirror = next(e for e in harness.events["b"] if e.kind == "heartbeat.node.degraded")
    assert (mirror.subject, mirror.labels["peer"]) == ("b", "a")
    assert "heartbeat.node.degraded" not in harness.kinds("a")

    # b comes back with every ping node answering: a's alert about it resolves.
    await harness.stop(b)
    await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)], ping_nodes=[listener, listener],
                        **PING)
    await harness.wait_for(lambda: "heartbeat.peer.recovered" in harness.kinds("a"), what="b recovered")
    recovered = [e for e in harness.events["a"] if e.kind == "heartbeat.peer.recovered"][-1]
    assert recovered.severity == Severity.OK and recovered.payload["peer_reach"] == [2, 2]


def test_comparison_only_moves_on_news() -> None:
    cmp = ReachComparison()
    assert cmp.compare(None, {"b": (0, 2)}) == []  # not measured here yet
    assert [c[:2] for c in cmp.compare((2, 2), {"b": (0, 2)})] == [("peer.degraded", "b")]
    assert cmp.compare((2, 2), {"b": (0, 2)}) == []
    assert cmp.compare((2, 2), {}) == [], "a peer that went silent keeps its flag"
    assert [c[:2] for c in cmp.compare((2, 2), {"b": (2, 2)})] == [("peer.recovered", "b")]
    assert [c[:2] for c in cmp.compare((1, 2), {"b": (2, 2)})] == [("node.degraded", "b")]
    assert [c[:2] for c in cmp.compare((2, 2), {"b": (2, 2)})] == [("node.recovered", "b")]


def test_reach_from_status_accepts_only_the_well_formed() -> None:
    assert reach_from_status({"ping": [1, 2]}) == (1, 2)
    for bad in ({}, {"ping": [3, 2]}, {"ping": [1]}, {"ping": "1/2"}, {"ping": [True, 2]}, {"ping": [-1, 2]}):
        assert reach_from_status(bad) is None, bad


async def test_many_ping_nodes_keep_the_beat_small(harness: Any, listener: str) -> None:
    nodes = [listener] * 199
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(harness.free_port())], ping_nodes=nodes,
                            ping_interval="5s", ping_timeout="50ms")
    await harness.wait_for(lambda: a.ping_reach() is not None, what="first round")
    assert a.beat_status({"role": "primary"}) == {"role": "primary", "ping": [199, 199]}
    assert len(str(a.beat_status({}))) < MAX_PACKET // 20
