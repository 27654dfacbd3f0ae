"""The serial path over two pseudo-terminal pairs joined by a relay (a null-modem cable we can cut)."""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from faultmgr_heartbeat.framing import END, frame


class NullModem(threading.Thread):
    """Two pty pairs; bytes written on one slave come out of the other. ``cut`` drops them."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.m1, self.s1 = os.openpty()
        self.m2, self.s2 = os.openpty()
        self.devices = (os.ttyname(self.s1), os.ttyname(self.s2))
        self.cut = False
        self.stopping = False
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stopping:
            with self.lock:
                peer = {self.m1: self.m2, self.m2: self.m1}
            try:
                ready, _, _ = select.select(list(peer), [], [], 0.05)
            except (OSError, ValueError):
                continue  # a master was swapped by replug
            for fd in ready:
                with self.lock:
                    try:
                        data = os.read(fd, 4096)
                        if not self.cut:
                            os.write(peer[fd], data)
                    except (OSError, KeyError):
                        continue

    def replug(self, link: str) -> None:
        """Unplug the first device (its reader gets EIO) and plug a new one in behind the symlink ``link``."""
        with self.lock:
            os.close(self.m1)
            os.close(self.s1)
            self.m1, self.s1 = os.openpty()
            os.unlink(link)
            os.symlink(os.ttyname(self.s1), link)

    def close(self) -> None:
        self.stopping = True
        self.join(2)
        for fd in (self.m1, self.s1, self.m2, self.s2):
            os.close(fd)


@pytest.fixture
def modem() -> Iterator[NullModem]:
    cable = NullModem()
    cable.start()
    yield cable
    cable.close()


def serial(device: str, name: str = "serial") -> dict[str, Any]:
    return {"type": "serial", "device": device, "name": name}


async def test_beats_over_a_serial_line_survive_line_noise(harness: Any, modem: NullModem) -> None:
    dev_a, dev_b = modem.devices
    a = await harness.start("a", peers=["b"], paths=[serial(dev_a)])
    b = await harness.start("b", peers=["a"], paths=[serial(dev_b)])
    await harness.wait_for(lambda: a.peer_state("b") == "up" and b.peer_state("a") == "up", what="up")

    # Noise on the wire goes into b's device as if a had sent it: b must resynchronise and stay up.
    os.write(modem.m2, b"\x00\xffgarbage" + bytes([END]) + b"more" + bytes([END]))
    os.write(modem.m2, frame(b"x" * 3000))
    for _ in range(5):
        os.write(modem.m2, b"half a frame without an end")
    await harness.wait_for(lambda: b.status()["drops"]["oversized"] >= 1, what="oversized counted")
    await harness.wait_for(lambda: b.status()["drops"]["malformed"] >= 2, what="noise counted")
    seq = b.status()["peers"]["a"]["seq"]
    await harness.wait_for(lambda: b.status()["peers"]["a"]["seq"] > seq + 3, what="beats after noise")
    assert harness.kinds("b") == ["heartbeat.peer.up"]
    assert b.paths_alive("a") == ["serial"]


async def test_serial_cut_is_a_path_down_while_udp_carries_on(harness: Any, modem: NullModem) -> None:
    dev_a, dev_b = modem.devices
    pa, pb = harness.free_port(), harness.free_port()
    a = await harness.start("a", peers=["b"], paths=[harness.udp_path(pa, pb, name="lan"), serial(dev_a)])
    b = await harness.start("b", peers=["a"], paths=[harness.udp_path(pb, pa, name="lan"), serial(dev_b)])
    await harness.wait_for(lambda: sorted(a.paths_alive("b")) == ["lan", "serial"], what="both paths")
    modem.cut = True
    await harness.wait_for(lambda: "heartbeat.path.down" in harness.kinds("a"), what="serial down")
    assert harness.events["a"][-1].labels["path"] == "serial"
    assert a.peer_state("b") == "up"
    modem.cut = False
    await harness.wait_for(lambda: "heartbeat.path.up" in harness.kinds("a"), what="serial up")
    assert harness.kinds("a") == ["heartbeat.peer.up", "heartbeat.path.down", "heartbeat.path.up"]
    assert b.peer_state("a") == "up"


async def test_serial_only_cut_is_peer_dead(harness: Any, modem: NullModem) -> None:
    dev_a, dev_b = modem.devices
    a = await harness.start("a", peers=["b"], paths=[serial(dev_a)])
    await harness.start("b", peers=["a"], paths=[serial(dev_b)])
    await harness.wait_for(lambda: a.peer_state("b") == "up", what="up")
    modem.cut = True
    await harness.wait_for(lambda: a.peer_state("b") == "dead", what="dead")
    assert harness.kinds("a") == ["heartbeat.peer.up", "heartbeat.peer.warn", "heartbeat.peer.dead"]


async def test_unplugged_device_is_reopened_and_the_beacon_follows(harness: Any, modem: NullModem,
                                                                   tmp_path: Any) -> None:
    link = str(tmp_path / "ttyA")
    os.symlink(modem.devices[0], link)
    slow = {"keepalive": "100ms", "warntime": "2s", "deadtime": "4s", "initdead": "5s"}
    a = await harness.start("a", peers=["b"], paths=[serial(link)], sender="process", **slow)
    b = await harness.start("b", peers=["a"], paths=[serial(modem.devices[1])], **slow)
    await harness.wait_for(lambda: a.peer_state("b") == b.peer_state("a") == "up", what="up")
    modem.replug(link)
    await harness.wait_for(lambda: a.status()["sender"]["restarts"] >= 1, what="beacon given the new device")
    seq = b.status()["peers"]["a"]["seq"]
    await harness.wait_for(lambda: b.status()["peers"]["a"]["seq"] > seq + 3, what="a's beats on the new device")
    a_seq = a.status()["peers"]["b"]["seq"]
    await harness.wait_for(lambda: a.status()["peers"]["b"]["seq"] > a_seq + 3, what="b's beats read again")
    assert "heartbeat.peer.dead" not in harness.kinds("a") + harness.kinds("b")
