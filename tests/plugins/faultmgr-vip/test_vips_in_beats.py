"""A takeover tells the peers: the VIPs a head holds (and its role) travel in its heartbeat beats, and the
peer's API nodes view names it as the holder. Two real heartbeat detectors beat each other over loopback
UDP; the ``vip.takeover`` action runs in head-b's namespace of the network lab and publishes through
head-b's detector, without clobbering the other keys of its beat status."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faultmgr_vip_lab as L
import pytest
from faultmgr_api.cluster import nodes_view
from faultmgr_heartbeat import HeartbeatDetector
from faultmgr_vip import VipTakeover
from loopback import free_port

from faultmgr.alert import AlertView
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore

pytestmark = pytest.mark.netns

ALERT = AlertView(id=1, fingerprint="fp", rule="peer-dead", subject="head-a", severity="critical", state="firing")
FAST = {"keepalive": "50ms", "warntime": "1s", "deadtime": "2s", "initdead": "5s", "realtime": False}


def detector(tmp_path: Path, node: str, peer: str, bind: int, target: int) -> HeartbeatDetector:
    keys = tmp_path / "hb.keys"
    if not keys.exists():
        keys.write_text("k1 " + "33" * 32 + "\n")
        keys.chmod(0o600)
    settings = HeartbeatDetector.Settings(node=node, peers=[peer], key_file=keys, paths=[
        {"type": "udp", "name": "lan", "bind": f"127.0.0.1:{bind}", "targets": [f"127.0.0.1:{target}"]}], **FAST)
    return HeartbeatDetector("hb", settings, Runtime(emit=lambda e: None, state_dir=tmp_path / node,
                                                      store=KeyValueStore.memory()))


async def seen(predicate: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_takeover_and_release_reach_the_peer_in_beats(lab: Any, tmp_path: Path) -> None:
    pa, pb = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    (tmp_path / "head-a").mkdir()
    (tmp_path / "head-b").mkdir()
    hb_a, hb_b = detector(tmp_path, "head-a", "head-b", pa, pb), detector(tmp_path, "head-b", "head-a", pb, pa)
    # Another component's key in head-b's beats, set before the detector starts: it must survive.
    hb_b.update_status("note", "kept")
    runtime = Runtime(emit=lambda e: None, state_dir=tmp_path, store=KeyValueStore.memory())
    runtime.components["detector"] = {"hb": hb_b}
    action = VipTakeover("vip", VipTakeover.Settings(vip=L.VIP4, interface="eth0", garp_count=1,
                                                     heartbeat_detector="hb", auto_failback=True), runtime)
    await hb_a.start()
    await hb_b.start()
    try:
        with lab.entered("head-b"):
            await action.start()  # reconciled: not held here, and the beats say so
            await seen(lambda: hb_a.peer_status("head-b").get("role") == "standby", "standby published")
            assert hb_a.peer_status("head-b")["vips"] == []
            assert hb_a.peer_status("head-b")["note"] == "kept"

            took = await action.run(ALERT, None)
            assert took.ok and took.data["operation"] == "take" and took.data["refused"] is False, took.detail
            await seen(lambda: hb_a.peer_status("head-b").get("vips") == [L.VIP4], "VIP in head-b's beats")
            assert hb_a.peer_status("head-b")["role"] == "primary"
            assert hb_a.peer_status("head-b")["note"] == "kept"
            daemon = SimpleNamespace(node="head-a", config=SimpleNamespace(
                detectors={"hb": SimpleNamespace(type="heartbeat")}, actions={}),
                instances={"detector": {"hb": hb_a}, "action": {}})
            heads = {h["node"]: h for h in nodes_view(daemon)["heads"]}  # type: ignore[arg-type]
            assert (heads["head-b"]["vips"], heads["head-b"]["role"]) == ([L.VIP4], "primary")

            again = await action.run(ALERT, None)
            assert again.ok and again.data["operation"] == "announce" and again.data["changed"] is False

            back = await action.run(ALERT, None, resolved=True)  # head-a back, auto_failback: released here
            assert back.ok and back.data["operation"] == "release" and back.data["changed"] is True, back.detail
            await seen(lambda: hb_a.peer_status("head-b").get("vips") == [], "VIP gone from head-b's beats")
            assert hb_a.peer_status("head-b")["role"] == "standby"
            assert hb_b.own_status() == {"note": "kept", "vips": [], "role": "standby"}
            await asyncio.sleep(0.1)  # background announcements finish inside the namespace
            await action.stop()
    finally:
        await hb_a.stop()
        await hb_b.stop()


async def test_refusals_say_so_in_the_result(lab: Any, tmp_path: Path) -> None:
    runtime = Runtime(emit=lambda e: None, state_dir=tmp_path, store=KeyValueStore.memory())
    action = VipTakeover("vip", VipTakeover.Settings(vip=L.VIP4, interface="eth0", garp_count=1,
                                                     require_peer_dead_on_all_paths=True,
                                                     heartbeat_detector="absent"), runtime)
    with lab.entered("head-b"):
        refused = await action.run(ALERT, None)
    assert not refused.ok and "split-brain guard" in refused.detail
    assert (refused.data["operation"], refused.data["refused"], refused.data["changed"]) == ("none", True, False)
    assert not lab.has_address("head-b", L.VIP4)
