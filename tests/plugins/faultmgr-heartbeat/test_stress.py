"""Robustness: CPU hogs on every core plus CPU-bound work on the event loop cause no false peer.dead."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sender", ["process", "thread"])
async def test_cpu_hogs_and_a_busy_loop_cause_no_false_dead(harness: Any, sender: str) -> None:
    timing = {"keepalive": "100ms", "warntime": "300ms", "deadtime": "500ms", "initdead": "2s", "sender": sender}
    pa, pb = harness.free_port(), harness.free_port()
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(pa, pb)], **timing)
    b = await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa)], **timing)
    await harness.wait_for(lambda: a.peer_state("b") == b.peer_state("a") == "up", what="up")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + 6
        while loop.time() < end:
            started = time.perf_counter()
            while time.perf_counter() - started < 0.2:  # pure-Python work holding the GIL and the loop
                pass
            await asyncio.sleep(0.01)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    for side in ("a", "b"):
        assert "heartbeat.peer.dead" not in harness.kinds(side), harness.kinds(side)
    assert a.peer_state("b") in ("up", "warn") and b.peer_state("a") in ("up", "warn")
    assert a.status()["loop_lag_ms"]["max"] > 0
