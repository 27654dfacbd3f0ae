"""Broadcast and multicast paths on loopback (this kernel delivers both on lo; see test_netns for veth)."""

from __future__ import annotations

from typing import Any


async def test_broadcast_path(harness: Any) -> None:
    port = harness.free_port()
    path = {"type": "bcast", "address": "127.255.255.255", "port": port}
    a = await harness.start("a", peers=["b"], paths=[path])
    b = await harness.start("b", peers=["a"], paths=[path])
    await harness.wait_for(lambda: a.peer_state("b") == "up" and b.peer_state("a") == "up", what="up")
    assert a.paths_alive("b") == ["bcast0"]
    await harness.wait_for(lambda: a.status()["own_beats_ignored"] > 0, what="own beats looped back")
    await harness.stop(b)
    await harness.wait_for(lambda: a.peer_state("b") == "dead", what="dead")


async def test_multicast_path(harness: Any) -> None:
    port = harness.free_port()
    path = {"type": "mcast", "group": "239.255.94.1", "port": port, "interface": "127.0.0.1"}
    a = await harness.start("a", peers=["b", "c"], paths=[path], initdead="60s")
    b = await harness.start("b", peers=["a", "c"], paths=[path], initdead="60s")
    c = await harness.start("c", peers=["a", "b"], paths=[path], initdead="60s")
    await harness.wait_for(lambda: all(d.peer_state(p) == "up" for d, peers in
                                       ((a, "bc"), (b, "ac"), (c, "ab")) for p in peers), what="mesh up")
    assert a.status()["paths"]["mcast0"]["group"] == f"239.255.94.1:{port}"
    assert a.status()["drops"] == dict.fromkeys(a.status()["drops"], 0)


async def test_all_four_path_types_at_once(harness: Any, tmp_path: Any) -> None:
    import os

    m1, s1 = os.openpty()
    m2, s2 = os.openpty()
    try:
        pa, pb, bport, mport = (harness.free_port() for _ in range(4))

        def paths(me: int, other: int, device: str) -> list[dict[str, Any]]:
            return [harness.udp_path(me, other),
                    {"type": "bcast", "address": "127.255.255.255", "port": bport},
                    {"type": "mcast", "group": "239.255.94.2", "port": mport, "interface": "lo"},
                    {"type": "serial", "device": device}]

        a = await harness.start("a", peers=["b"], paths=paths(pa, pb, os.ttyname(s1)))
        await harness.start("b", peers=["a"], paths=paths(pb, pa, os.ttyname(s2)))
        # The two ptys are not joined: the serial path of each is open but silent, so it is reported down.
        await harness.wait_for(lambda: sorted(a.paths_alive("b")) == ["bcast1", "mcast2", "udp0"], what="3 paths")
        await harness.wait_for(lambda: "heartbeat.path.down" in harness.kinds("a"), what="serial down")
        assert harness.events["a"][-1].labels["path"] == "serial3"
    finally:
        for fd in (m1, s1, m2, s2):
            os.close(fd)
