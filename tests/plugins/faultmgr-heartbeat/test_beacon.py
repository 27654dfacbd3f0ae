"""``sender: process``: beats from a child process that CPU-bound work in the daemon cannot delay."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any


async def pair(harness: Any, **settings: Any) -> tuple[Any, Any]:
    pa, pb = harness.free_port(), harness.free_port()
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(pa, pb)], **settings)
    b = await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)], sender="process", **settings)
    await harness.wait_for(lambda: a.peer_state("b") == b.peer_state("a") == "up", what="up")
    return a, b


async def test_beacon_beats_status_and_stop(harness: Any) -> None:
    a, b = await pair(harness)
    pid = b.status()["sender"]["pid"]
    assert b.status()["sender"]["mode"] == "process" and pid != os.getpid()
    b.set_status({"role": "primary"})
    await harness.wait_for(lambda: a.peer_status("b") == {"role": "primary"}, what="status via the pipe")
    await harness.wait_for(lambda: b.status()["seq"] > 5, what="seq reported")
    os.kill(pid, signal.SIGTERM)  # systemd signals the whole unit; the daemon, not the beacon, decides
    seq = b.status()["seq"]
    await harness.wait_for(lambda: b.status()["seq"] > seq + 5, what="beats after SIGTERM")
    assert b.status()["sender"]["pid"] == pid and b.status()["sender"]["restarts"] == 0
    await harness.stop(b)
    await harness.wait_for(lambda: a.peer_state("b") == "dead", what="b dead")
    assert not os.path.exists(f"/proc/{pid}")  # stopped and reaped


async def test_killed_beacon_is_replaced_and_numbers_keep_growing(harness: Any) -> None:
    a, b = await pair(harness, deadtime="1s", initdead="2s")
    pid = b.status()["sender"]["pid"]
    await harness.wait_for(lambda: b.status()["seq"] > 3, what="seq reported")
    os.kill(pid, signal.SIGKILL)
    await harness.wait_for(lambda: b.status()["sender"]["restarts"] == 1, what="beacon replaced")
    assert b.status()["sender"]["pid"] != pid
    seq = a.status()["peers"]["b"]["seq"]
    await harness.wait_for(lambda: a.status()["peers"]["b"]["seq"] > seq, what="new beacon's beats accepted")
    assert a.status()["drops"]["replayed"] == 0
    assert "heartbeat.peer.dead" not in harness.kinds("a")


async def test_cpu_bound_loop_does_not_delay_the_beacon(harness: Any) -> None:
    a, b = await pair(harness)
    before = a.status()["peers"]["b"]["seq"]
    started = time.perf_counter()
    while time.perf_counter() - started < 1.0:  # pure Python holding the GIL and the loop for 20 keepalives
        pass
    received = a.status()["peers"]["b"]["seq"]  # read before the loop runs again
    assert received - before >= 15  # a's receiver thread got the GIL in turns; b's beacon never needed it
    await asyncio.sleep(0.1)
    assert harness.kinds("a") == ["heartbeat.peer.up"]
