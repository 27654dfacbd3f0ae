"""Hostile packets from a raw UDP socket: dropped, counted by reason, never mark a peer alive."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from faultmgr_heartbeat.auth import Key
from faultmgr_heartbeat.protocol import MAX_PACKET, Packet, encode

from faultmgr.event import Severity

GOOD = Key("k1", bytes.fromhex("11" * 32))  # the harness's KEY1
WRONG = Key("k1", bytes.fromhex("33" * 32))
UNKNOWN_ID = Key("k9", bytes.fromhex("11" * 32))


@pytest.fixture
def attacker() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield sock
    sock.close()


def beat(seq: int, generation: int = 5, node: str = "b", key: Key = GOOD) -> bytes:
    return encode(Packet(node, generation, seq, time.time(), {}), key)


async def watcher(harness: Any, **settings: Any) -> tuple[Any, tuple[str, int]]:
    port = harness.free_port()
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(port)], **settings)
    return a, ("127.0.0.1", port)


async def test_each_kind_of_bad_packet_is_dropped_and_counted(harness: Any, attacker: socket.socket) -> None:
    a, target = await watcher(harness)
    hostile = {
        "forged": [beat(1, key=WRONG), beat(2, key=UNKNOWN_ID), beat(3)[:-1] + b"\x00"],
        "truncated": [beat(4)[:40], beat(4)[:-5]],
        "oversized": [b"\x00" * (MAX_PACKET + 1), b"FMHB" * 1000],
        "malformed": [b"hello", beat(5) + b"extra"],
        "unknown-peer": [beat(1, node="mallory")],
    }
    for packets in hostile.values():
        for data in packets:
            attacker.sendto(data, target)
    expected = {reason: len(packets) for reason, packets in hostile.items()}
    await harness.wait_for(lambda: {r: a.status()["drops"][r] for r in expected} == expected, what="counts")
    await asyncio.sleep(0.2)
    assert a.peer_state("b") == "unknown"
    assert a.status()["drops"]["replayed"] == 0
    assert a.status()["drops_by_path"]["udp0"]["forged"] == 3
    assert harness.kinds("a") == []


async def test_replays_are_dropped_and_cannot_revive_a_dead_peer(harness: Any, attacker: socket.socket) -> None:
    a, target = await watcher(harness)
    recorded = [beat(seq) for seq in range(1, 6)]
    for data in recorded:  # b's genuine beats, recorded by the attacker as they pass
        attacker.sendto(data, target)
    await harness.wait_for(lambda: a.peer_state("b") == "up", what="b up")
    await harness.wait_for(lambda: a.peer_state("b") == "dead", what="b dead")
    for _ in range(3):
        for data in recorded:
            attacker.sendto(data, target)
        attacker.sendto(beat(99, generation=4), target)  # an older boot's beat
        await asyncio.sleep(0.05)
    await harness.wait_for(lambda: a.status()["drops"]["replayed"] == 18, what="replays counted")
    assert a.peer_state("b") == "dead"
    assert harness.kinds("a") == ["heartbeat.peer.up", "heartbeat.peer.warn", "heartbeat.peer.dead"]


async def test_forged_burst_raises_one_event_per_burst(harness: Any, attacker: socket.socket) -> None:
    a, target = await watcher(harness, forged_burst=5, forged_window="500ms", initdead="60s")
    for seq in range(3):  # a few stray forgeries: below the threshold
        attacker.sendto(beat(seq, key=WRONG), target)
    await asyncio.sleep(0.6)
    assert harness.kinds("a") == []
    for seq in range(40):
        attacker.sendto(beat(seq, key=WRONG), target)
    await harness.wait_for(lambda: "heartbeat.security.cleared" in harness.kinds("a"), what="burst over")
    assert harness.kinds("a") == ["heartbeat.security.forged", "heartbeat.security.cleared"]
    forged = harness.events["a"][0]
    assert forged.severity is Severity.CRITICAL and forged.subject == "a"
    assert forged.payload["sources"] and forged.labels["path"] == "udp0"
    for seq in range(10):  # a second burst is reported again
        attacker.sendto(beat(seq, key=WRONG), target)
    await harness.wait_for(lambda: harness.kinds("a").count("heartbeat.security.forged") == 2, what="2nd")
    assert a.status()["forged_bursts"] == 2
    assert a.status()["drops"]["forged"] == 53
    assert a.peer_state("b") == "unknown"


async def test_watcher_restart_still_refuses_old_beats(harness: Any, attacker: socket.socket) -> None:
    a, target = await watcher(harness)
    recorded = [beat(seq) for seq in range(1, 4)]
    for data in recorded:
        attacker.sendto(data, target)
    await harness.wait_for(lambda: a.peer_state("b") == "up", what="b up")
    await harness.stop(a)
    port = target[1]
    again = await harness.start("a", peers=["b"], paths=[harness.udp_path(port)])
    for data in recorded:
        attacker.sendto(data, target)
    await harness.wait_for(lambda: again.status()["drops"]["replayed"] == 3, what="replays after restart")
    assert again.peer_state("b") == "unknown"
