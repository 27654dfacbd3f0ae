"""The liveness state machine driven with made-up times (no sockets, no sleeping)."""

from __future__ import annotations

from faultmgr_heartbeat.liveness import Liveness, Timing
from faultmgr_heartbeat.protocol import Packet

TIMING = Timing(keepalive=1.0, warntime=3.0, deadtime=5.0, initdead=10.0, path_deadtime=5.0)


def machine(paths: tuple[str, ...] = ("udp0",)) -> Liveness:
    return Liveness(["b"], list(paths), TIMING, started=100.0)


def beat(live: Liveness, seq: int, now: float, path: str = "udp0", generation: int = 1,
         node: str = "b") -> str | None:
    return live.accept(Packet(node, generation, seq, 0.0, {"seq": seq}), path, now)


def changes(live: Liveness, now: float) -> list[str]:
    return [f"{c.kind}:{c.path}" if c.path and c.kind.startswith("path") else c.kind
            for c in live.evaluate(now)]


def test_up_warn_dead_restored() -> None:
    live = machine()
    assert changes(live, 101) == []
    assert beat(live, 1, 101.5) is None
    assert changes(live, 101.6) == ["peer.up"]
    assert live.peer_state("b") == "up"
    assert changes(live, 104.6) == ["peer.warn"]
    assert changes(live, 105.0) == []
    assert changes(live, 106.6) == ["peer.dead"]
    assert live.peer_state("b") == "dead" and live.paths_alive("b", 106.6) == []
    beat(live, 2, 107)
    assert changes(live, 107.1) == ["peer.restored"]
    assert live.peer_status("b") == {"seq": 2}


def test_never_heard_is_dead_after_initdead_only() -> None:
    live = machine()
    assert changes(live, 109.9) == []
    assert live.peer_state("b") == "unknown"
    assert changes(live, 110.1) == ["peer.dead"]


def test_warn_then_back() -> None:
    live = machine()
    beat(live, 1, 100)
    changes(live, 100)
    assert changes(live, 103.5) == ["peer.warn"]
    beat(live, 2, 103.6)
    assert changes(live, 103.7) == ["peer.restored"]


def test_replays_and_generations() -> None:
    live = machine()
    assert beat(live, 5, 100, generation=10) is None
    assert beat(live, 5, 100.1, generation=10) == "replayed"  # same seq again
    assert beat(live, 4, 100.2, generation=10) == "replayed"  # older seq
    assert beat(live, 99, 100.3, generation=9) == "replayed"  # older generation
    assert beat(live, 1, 100.4, generation=11) is None  # the peer restarted
    assert [c.kind for c in live.evaluate(100.5)] == ["peer.rebooted", "peer.up"]
    assert beat(live, 6, 100.6, generation=10) == "replayed"  # the old boot is over
    assert beat(live, 1, 100.7, node="mallory") == "unknown-peer"


def test_same_beat_counts_once_per_path() -> None:
    live = machine(("udp0", "mcast1"))
    assert beat(live, 1, 100, "udp0") is None
    assert beat(live, 1, 100, "mcast1") is None
    assert beat(live, 1, 100.1, "mcast1") == "replayed"


def test_beats_replayed_onto_another_path_lag_at_most_a_window() -> None:
    live = machine(("udp0", "mcast1"))
    for seq in range(1, 40):
        beat(live, seq, 100 + seq, "udp0")
    window = TIMING.replay_window
    assert beat(live, 39 - window - 1, 140, "mcast1") == "replayed"
    assert beat(live, 39 - window + 1, 140, "mcast1") is None


def test_paths_down_and_up_while_peer_alive() -> None:
    live = machine(("udp0", "udp1"))
    beat(live, 1, 100, "udp0")
    beat(live, 1, 100, "udp1")
    assert changes(live, 100) == ["peer.up"]
    for seq, now in ((2, 102), (3, 104), (4, 106)):
        beat(live, seq, now, "udp0")
    assert changes(live, 106) == ["path.down:udp1"]
    assert live.paths_alive("b", 106) == ["udp0"]
    beat(live, 5, 107, "udp1")
    assert changes(live, 107) == ["path.up:udp1"]


def test_whole_peer_silent_is_one_peer_dead_not_path_downs() -> None:
    live = machine(("udp0", "udp1"))
    beat(live, 1, 100, "udp0")
    beat(live, 1, 100, "udp1")
    changes(live, 100)
    assert changes(live, 103.1) == ["peer.warn"]
    assert changes(live, 105.1) == ["peer.dead"]


def test_peer_death_with_paths_a_little_apart_is_not_a_path_down() -> None:
    live = machine(("udp0", "udp1"))
    beat(live, 1, 100.00, "udp1")
    beat(live, 1, 100.04, "udp0")  # the last beat came in on udp0 slightly later
    changes(live, 100.1)
    changes(live, 103.1)
    assert changes(live, 105.02) == []  # udp1 is past path_deadtime, udp0 not yet: no path.down
    assert changes(live, 105.05) == ["peer.dead"]


def test_path_never_heard_is_reported_after_initdead() -> None:
    live = machine(("udp0", "udp1"))
    for seq in range(1, 12):
        beat(live, seq, 100 + seq, "udp0")
    assert changes(live, 109) == ["peer.up"]
    assert changes(live, 111) == ["path.down:udp1"]


def test_grace_after_a_stall_holds_warn_and_dead() -> None:
    live = machine()
    beat(live, 1, 100)
    changes(live, 100)
    live.give_grace(108)
    assert changes(live, 107) == []  # silent for 7 s, but this process was stalled
    assert live.peer_state("b") == "up"
    assert changes(live, 108.1) == ["peer.dead"]  # grace over: a really dead peer is still declared


def test_high_water_survives_a_restart_of_the_watcher() -> None:
    live = machine()
    beat(live, 50, 100, generation=3)
    saved = live.high_water()
    again = machine()
    again.restore_high_water(saved)
    assert beat(again, 50, 101, generation=3) == "replayed"
    assert beat(again, 40, 101, generation=3) == "replayed"
    assert beat(again, 51, 101, generation=3) is None
    again.restore_high_water({"b": "garbage", "zed": [1, 2]})  # ignored
