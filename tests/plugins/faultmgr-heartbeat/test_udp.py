"""Two heartbeat detectors on loopback UDP: up, warn, dead, restored, path down/up, rotation, stalls."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from faultmgr_heartbeat import HeartbeatDetector

from faultmgr.event import Severity


async def pair(harness: Any, **settings: Any) -> tuple[Any, Any, int, int]:
    pa, pb = harness.free_port(), harness.free_port()
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(pa, pb)], **settings)
    b = await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)], **settings)
    return a, b, pa, pb


@pytest.mark.parametrize("sender", ["process", "thread"])
async def test_up_warn_dead_restored(harness: Any, sender: str) -> None:
    a, b, pa, pb = await pair(harness, sender=sender)
    await harness.wait_for(lambda: a.peer_state("b") == "up" and b.peer_state("a") == "up", what="both up")
    assert harness.kinds("a") == ["heartbeat.peer.up"]
    assert a.paths_alive("b") == ["udp0"]

    await harness.stop(b)
    await harness.wait_for(lambda: a.peer_state("b") == "dead", what="b dead")
    assert harness.kinds("a") == ["heartbeat.peer.up", "heartbeat.peer.warn", "heartbeat.peer.dead"]
    assert a.paths_alive("b") == []
    dead = harness.events["a"][-1]
    assert (dead.subject, dead.severity, dead.labels["peer"], dead.source) == ("b", Severity.CRITICAL, "b", "a")

    await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)], sender=sender)
    await harness.wait_for(lambda: a.peer_state("b") == "up", what="b back")
    assert harness.kinds("a")[3:] == ["heartbeat.peer.rebooted", "heartbeat.peer.restored"]
    restored = harness.events["a"][-1]
    assert (restored.severity, restored.labels["path"]) == (Severity.OK, "udp0")
    assert a.status()["peers"]["b"]["restarts"] == 1


async def test_never_heard_peer_is_dead_after_initdead(harness: Any) -> None:
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(harness.free_port())])
    assert a.peer_state("b") == "unknown"
    await harness.wait_for(lambda: a.peer_state("b") == "dead", what="initdead")
    assert harness.kinds("a") == ["heartbeat.peer.dead"]
    assert harness.events["a"][0].payload["reason"] == "no beat within initdead"


async def test_status_travels_with_beats(harness: Any) -> None:
    a, b, _, _ = await pair(harness)
    b.set_status({"role": "primary", "vips": ["10.0.0.100"]})
    await harness.wait_for(lambda: a.peer_status("b").get("role") == "primary", what="status")
    assert a.peer_status("b")["vips"] == ["10.0.0.100"]
    with pytest.raises(ValueError):
        b.set_status({"blob": "x" * 2000})


async def test_one_path_down_then_up_while_peer_stays_up(harness: Any, relays: Any) -> None:
    pa0, pb0, pa1, pb1 = (harness.free_port() for _ in range(4))
    to_b = relays(pb1)  # path udp1 from a to b goes through a relay we can cut
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(pa0, pb0), harness.udp_path(pa1, to_b.port)])
    b = await harness.start("b", peers=["a"], paths=[harness.udp_path(pb0, pa0), harness.udp_path(pb1, pa1)])
    await harness.wait_for(lambda: sorted(b.paths_alive("a")) == ["udp0", "udp1"], what="both paths")

    to_b.cut = True
    await harness.wait_for(lambda: "heartbeat.path.down" in harness.kinds("b"), what="path down")
    down = harness.events["b"][-1]
    assert (down.subject, down.labels["path"], down.labels["peer"], down.severity) == (
        "a", "udp1", "a", Severity.WARNING)
    assert b.peer_state("a") == "up" and b.paths_alive("a") == ["udp0"]

    to_b.cut = False
    await harness.wait_for(lambda: "heartbeat.path.up" in harness.kinds("b"), what="path up")
    assert harness.kinds("b") == ["heartbeat.peer.up", "heartbeat.path.down", "heartbeat.path.up"]
    assert "heartbeat.peer.warn" not in harness.kinds("b")
    assert harness.kinds("a") == ["heartbeat.peer.up"]  # a hears b on both paths all along
    assert a.peer_state("b") == "up"


async def test_key_rotation_both_keys_accepted(harness: Any, tmp_path: Any) -> None:
    # Mid-rotation: a already signs with k2, b still signs with k1; both accept both.
    keys_a = harness.write_keys(tmp_path / "a.keys", harness.KEY2, harness.KEY1)
    keys_b = harness.write_keys(tmp_path / "b.keys", harness.KEY1, harness.KEY2)
    pa, pb = harness.free_port(), harness.free_port()
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(pa, pb)], key_file=keys_a)
    b = await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)], key_file=keys_b)
    await harness.wait_for(lambda: a.peer_state("b") == "up" and b.peer_state("a") == "up", what="up")
    assert a.status()["keys"] == ["k2", "k1"]
    assert a.status()["drops"]["forged"] == b.status()["drops"]["forged"] == 0


async def test_old_key_only_cannot_talk_to_new_key_only(harness: Any, tmp_path: Any) -> None:
    keys_a = harness.write_keys(tmp_path / "a.keys", harness.KEY2)
    pa, pb = harness.free_port(), harness.free_port()
    await harness.start("a", peers=["b"], paths=[harness.udp_path(pa, pb)], key_file=keys_a)
    b = await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)])
    await harness.wait_for(lambda: b.status()["drops"]["forged"] >= 3, what="forged drops")
    assert b.peer_state("a") == "unknown"


async def test_world_readable_key_file_is_refused(harness: Any, tmp_path: Any) -> None:
    loose = harness.write_keys(tmp_path / "loose.keys", harness.KEY1, mode=0o644)
    detector = harness.build("a", peers=["b"], paths=[harness.udp_path(harness.free_port())], key_file=loose)
    [problem] = detector.check()
    assert "readable or writable by others" in problem and "chmod 600" in problem
    with pytest.raises(ValueError, match="chmod 600"):
        await detector.start()
    assert detector.node.sender is None and detector.node.receiver is None


@pytest.mark.parametrize("sender", ["process", "thread"])
async def test_blocked_event_loop_causes_no_false_warn_or_dead(harness: Any, sender: str) -> None:
    a, b, _, _ = await pair(harness, sender=sender)
    await harness.wait_for(lambda: a.peer_state("b") == "up" and b.peer_state("a") == "up", what="up")
    sent_before = a.status()["sent"]
    # Slow plugin work that blocks the whole loop for three deadtimes.
    time.sleep(0.9)
    await asyncio.sleep(0.3)
    assert a.status()["sent"] - sent_before >= 10  # the sender thread kept beating meanwhile
    assert harness.kinds("a") == ["heartbeat.peer.up"] and harness.kinds("b") == ["heartbeat.peer.up"]
    lag = a.status()["loop_lag_ms"]
    assert lag["stalls"] >= 1 and lag["max"] >= lag["last"]


async def test_real_death_is_still_detected_after_a_stall(harness: Any) -> None:
    a, b, _, _ = await pair(harness)
    await harness.wait_for(lambda: a.peer_state("b") == "up", what="up")
    await harness.stop(b)
    time.sleep(0.6)  # the loop stalls while b is already gone
    await harness.wait_for(lambda: a.peer_state("b") == "dead", what="dead after grace")
    assert harness.kinds("a")[-1] == "heartbeat.peer.dead"


def test_settings_validate_timing_and_registration() -> None:
    base = {"peers": ["b"], "key_file": "/k", "paths": [{"type": "udp", "targets": ["127.0.0.1:1"]}]}
    with pytest.raises(ValueError, match="keepalive < warntime < deadtime"):
        HeartbeatDetector.Settings(**base, keepalive="1s", warntime="1s", deadtime="2s")
    with pytest.raises(ValueError, match="initdead"):
        HeartbeatDetector.Settings(**base, initdead="5s")
    with pytest.raises(ValueError, match="address:port"):
        HeartbeatDetector.Settings(**{**base, "paths": [{"type": "udp", "targets": ["nowhere"]}]})
    with pytest.raises(ValueError):
        HeartbeatDetector.Settings(**{**base, "paths": [{"type": "carrier-pigeon"}]})
    with pytest.raises(ValueError, match="64 bytes"):
        HeartbeatDetector.Settings(**base, node="é" * 40)
    with pytest.raises(ValueError, match="printable"):
        HeartbeatDetector.Settings(**{**base, "peers": ["bad\nname"]})
    with pytest.raises(ValueError, match="path_deadtime"):
        HeartbeatDetector.Settings(**base, path_deadtime="20s")
    settings = HeartbeatDetector.Settings(**base, keepalive="200ms", warntime="600ms", deadtime="1s")
    assert settings.deadtime == 1.0 and settings.node  # node defaults to the host name


async def test_target_names_are_resolved_once_at_start(harness: Any) -> None:
    pa, pb = harness.free_port(), harness.free_port()
    a = await harness.start("a", peers=["b"], paths=[{"type": "udp", "bind": f"127.0.0.1:{pa}",
                                                       "targets": [f"localhost:{pb}"]}])
    b = await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)])
    await harness.wait_for(lambda: b.peer_state("a") == "up", what="a heard via a resolved name")
    assert a.status()["paths"]["udp0"]["targets"] == f"127.0.0.1:{pb}"
    unresolvable = harness.build("c", peers=["a"], paths=[{"type": "udp", "bind": "127.0.0.1:0",
                                                           "targets": ["no-such-host.invalid:694"]}])
    with pytest.raises(OSError, match="no-such-host.invalid"):
        await unresolvable.start()


async def test_a_failing_emit_does_not_stop_evaluation(harness: Any) -> None:
    pa, pb = harness.free_port(), harness.free_port()
    a = harness.build("a", peers=["b"], paths=[harness.udp_path(pa, pb)])
    seen: list[str] = []

    def flaky(event: Any) -> None:
        seen.append(event.kind)
        if len(seen) == 1:
            raise RuntimeError("engine hiccup")

    a.runtime.emit = flaky
    await a.start()
    harness.running.append(a)
    b = await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)])
    await harness.wait_for(lambda: a.peer_state("b") == "up", what="up")
    await harness.stop(b)
    await harness.wait_for(lambda: "heartbeat.peer.dead" in seen, what="evaluation went on after the error")
    assert json.loads(json.dumps(a.status()))["peers"]["b"]["state"] == "dead"
