"""Per-path beat statistics (``path_stats()``): beats accepted, beats lost to sequence gaps, inter-arrival.

The state machine with made-up times, then real UDP: beats encoded and signed by hand and sent to a running
detector, one sequence number skipped."""

from __future__ import annotations

import socket
from typing import Any

from faultmgr_heartbeat.auth import load_key_file
from faultmgr_heartbeat.liveness import INTERARRIVAL_BUCKETS, Liveness, Timing
from faultmgr_heartbeat.protocol import Packet, encode

TIMING = Timing(keepalive=1.0, warntime=3.0, deadtime=5.0, initdead=10.0, path_deadtime=5.0)


def stats(live: Liveness, path: str = "udp0") -> dict[str, Any]:
    return live.path_stats()["b"][path]


def test_gaps_counted_per_path_and_a_restart_starts_a_new_comparison() -> None:
    live = Liveness(["b"], ["udp0", "udp1"], TIMING, started=100.0)
    for seq, now in ((1, 101.0), (2, 101.02), (4, 101.3)):
        assert live.accept(Packet("b", 7, seq, 0.0), "udp0", now) is None
    assert live.accept(Packet("b", 7, 4, 0.0), "udp1", 101.3) is None  # udp1's first beat: nothing lost
    assert live.accept(Packet("b", 7, 4, 0.0), "udp0", 101.4) == "replayed"  # dropped beats are not counted
    first = stats(live)
    assert (first["beats"], first["lost"]) == (3, 1)
    gaps = first["interarrival"]
    assert gaps["count"] == 2 and abs(gaps["sum_s"] - 0.3) < 1e-9
    cumulative = dict(gaps["buckets"])
    assert list(cumulative) == [*INTERARRIVAL_BUCKETS, float("inf")]
    assert (cumulative[0.01], cumulative[0.025], cumulative[0.25], cumulative[0.5]) == (0, 1, 1, 2)
    assert cumulative[float("inf")] == 2
    assert (stats(live, "udp1")["beats"], stats(live, "udp1")["lost"]) == (1, 0)

    # The peer restarts (new generation, seq from 1): no gap against the old numbers, counters kept.
    assert live.accept(Packet("b", 8, 1, 0.0), "udp0", 200.0) is None
    assert live.accept(Packet("b", 8, 3, 0.0), "udp0", 200.1) is None
    after = stats(live)
    assert (after["beats"], after["lost"], after["interarrival"]["count"]) == (5, 2, 3)


async def test_one_beat_dropped_on_a_real_udp_path_is_one_lost(harness: Any) -> None:
    port = harness.free_port()
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(port)])
    key = load_key_file(harness.key_file).send_key
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in (1, 2, 4):  # beat 3 never leaves "b"
            sock.sendto(encode(Packet("b", 42, seq, 0.0, {"role": "standby"}), key), ("127.0.0.1", port))
            await harness.wait_for(lambda seq=seq: a.status()["peers"]["b"]["seq"] == seq, what=f"beat {seq}")
    found = a.path_stats()["b"]["udp0"]
    assert (found["beats"], found["lost"]) == (3, 1)
    assert found["interarrival"]["count"] == 2 and found["interarrival"]["buckets"][-1] == (float("inf"), 2)


async def test_two_detectors_count_every_beat_and_lose_none(harness: Any) -> None:
    pa, pb = harness.free_port(), harness.free_port()
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(pa, pb)])
    await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)])
    await harness.wait_for(lambda: a.path_stats()["b"]["udp0"]["beats"] >= 5, what="five beats")
    found = a.path_stats()["b"]["udp0"]
    # Loopback drops nothing; the histogram holds one gap per beat after the first.
    assert found["lost"] == 0
    assert found["interarrival"]["count"] == found["beats"] - 1
    assert found["interarrival"]["sum_s"] > 0
