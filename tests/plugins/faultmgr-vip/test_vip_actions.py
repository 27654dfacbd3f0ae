"""vip.takeover and vip.release in the network lab, without the daemon: the action runs in this process,
switched into a head's namespace, against real interfaces, a real bridge and the client's real neighbour
table."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import faultmgr_vip_lab as L
import pytest
from faultmgr_vip import VipRelease, VipTakeover

from faultmgr.alert import AlertView
from faultmgr.runtime import Runtime

pytestmark = pytest.mark.netns

ALERT = AlertView(id=1, fingerprint="fp", rule="peer-dead", subject="head-a", severity="critical", state="firing")


def takeover(runtime: Runtime, **kw: Any) -> VipTakeover:
    kw = {"vip": L.VIP4, "interface": "eth0", "garp_count": 3, "garp_interval": 0.05, **kw}
    return VipTakeover("vip", VipTakeover.Settings(**kw), runtime)


def release(runtime: Runtime, **kw: Any) -> VipRelease:
    return VipRelease("vip-release", VipRelease.Settings(**{"vip": L.VIP4, "interface": "eth0", **kw}), runtime)


def held_by_a_and_known_to_client(lab: Any, vip: str = L.VIP4) -> None:
    """head-a holds the VIP and the client has head-a's MAC for it (as before any failover)."""
    lab.exec("head-a", "ip", "addr", "add", vip, "dev", "eth0", *(["nodad"] if ":" in vip else []))
    assert lab.ping("client", vip)
    assert lab.neigh("client", vip) == lab.mac("head-a")


def connect(lab: Any, port: int) -> str:
    out = lab.exec("client", "python3", "-c",
                   f"import socket; s=socket.create_connection(('{L.VIP4.split('/')[0]}', {port}), 2); "
                   "print(s.recv(64).decode().strip())")
    return str(out.stdout.strip())


async def test_takeover_adds_vip_and_client_follows_the_gratuitous_arp(lab: Any, runtime: Runtime) -> None:
    held_by_a_and_known_to_client(lab)
    lab.serve(18080)
    assert connect(lab, 18080) == "head-a"
    # The primary dies quietly (address gone, no announcement): only head-b's GARP can move the client.
    lab.exec("head-a", "ip", "addr", "del", L.VIP4, "dev", "eth0")
    action = takeover(runtime)
    with lab.entered("head-b"):
        await action.start()
        assert action.status()["held"] is False
        result = await action.run(ALERT, None)
    assert result.ok, result.detail
    assert result.data["changed"] is True
    assert lab.has_address("head-b", L.VIP4)
    # arp_accept=0: the existing entry is updated in place; no ARP request was needed.
    assert lab.neigh("client", L.VIP4) == lab.mac("head-b")
    assert connect(lab, 18080) == "head-b"
    with lab.entered("head-b"):
        await asyncio.sleep(0.2)  # let the rest of the burst go out before the namespace is left
        assert action.status()["announcements"] == 3
        await action.stop()


async def test_release_removes_the_vip_and_is_idempotent(lab: Any, runtime: Runtime) -> None:
    lab.exec("head-b", "ip", "addr", "add", L.VIP4, "dev", "eth0")
    action = release(runtime)
    with lab.entered("head-b"):
        await action.start()
        assert action.status()["held"] is True
        first = await action.run(ALERT, None)
        second = await action.run(ALERT, None)
    assert first.ok and first.data["changed"] is True and first.data["operation"] == "release"
    assert second.ok and second.data["changed"] is False and second.data["operation"] == "none"
    assert not lab.has_address("head-b", L.VIP4)


async def test_takeover_twice_adds_once_and_counts_once(lab: Any, runtime: Runtime) -> None:
    action = takeover(runtime)
    with lab.entered("head-b"):
        first = await action.run(ALERT, None)
        second = await action.run(ALERT, None)
        await action.stop()
    assert first.ok and first.data["changed"] is True
    assert second.ok and second.data["changed"] is False and "already held" in second.detail
    addrs = lab.exec("head-b", "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    assert addrs.count(L.VIP4.split("/")[0]) == 1
    assert action.status()["circuit_breaker"]["recent_takeovers"] == 1


async def test_start_reconciles_an_address_already_held(lab: Any, runtime: Runtime) -> None:
    lab.exec("head-b", "ip", "addr", "add", L.VIP4, "dev", "eth0")
    # The client still believes head-a has it (stale entry); holding it at start re-announces.
    lab.exec("client", "ip", "neigh", "replace", L.VIP4.split("/")[0], "lladdr", lab.mac("head-a"),
             "dev", "eth0", "nud", "stale")
    action = takeover(runtime, start_probe_timeout="200ms")
    with lab.entered("head-b"):
        await action.start()
        assert action.status()["held"] is True
        await asyncio.sleep(0.4)  # nobody else answers the probe: kept, and announced
        await action.stop()
    assert lab.has_address("head-b", L.VIP4)
    assert lab.neigh("client", L.VIP4) == lab.mac("head-b")


async def test_start_yields_an_address_another_node_holds(lab: Any, runtime: Runtime) -> None:
    # After a split brain heals, or a restart after the peer took over: both carry the address.
    lab.exec("head-a", "ip", "addr", "add", L.VIP4, "dev", "eth0")
    lab.exec("head-b", "ip", "addr", "add", L.VIP4, "dev", "eth0")
    standby = takeover(runtime, start_probe_timeout="300ms")
    with lab.entered("head-b"):
        await standby.start()
        await asyncio.sleep(0.5)
        await standby.stop()
    assert standby.status()["yielded_to"] == lab.mac("head-a")
    assert not lab.has_address("head-b", L.VIP4)
    assert lab.has_address("head-a", L.VIP4)


async def test_circuit_breaker_refuses_after_too_many_takeovers(lab: Any, runtime: Runtime) -> None:
    action = takeover(runtime, max_takeovers=2, takeover_window="10m")
    give_back = release(runtime)
    with lab.entered("head-b"):
        for _ in range(2):
            assert (await action.run(ALERT, None)).ok
            assert (await give_back.run(ALERT, None)).ok
        third = await action.run(ALERT, None)
        await action.stop()
    assert not third.ok
    assert third.detail.startswith("circuit open")
    assert not lab.has_address("head-b", L.VIP4)
    assert action.status()["circuit_breaker"]["open"] is True
    # The count survives a restart of the daemon (durable store).
    assert takeover(runtime, max_takeovers=2).breaker.is_open()


async def test_failed_fence_blocks_takeover(lab: Any, runtime: Runtime, tmp_path: Path) -> None:
    action = takeover(runtime, fence=["sh", "-c", "echo IPMI refused >&2; exit 3"])
    with lab.entered("head-b"):
        result = await action.run(ALERT, None)
    assert not result.ok and "fencing failed" in result.detail and "IPMI refused" in result.detail
    assert not lab.has_address("head-b", L.VIP4)


async def test_fence_runs_before_the_address_moves(lab: Any, runtime: Runtime, tmp_path: Path) -> None:
    marker = tmp_path / "fenced"
    # The fence "powers off" head-a: it records whether head-b held the VIP at that moment.
    script = f"ip -o addr show dev eth0 | grep -q {L.VIP4.split('/')[0]} && echo held > {marker} || echo free > {marker}"
    action = takeover(runtime, fence=["sh", "-c", script])
    with lab.entered("head-b"):
        result = await action.run(ALERT, None)
        await action.stop()
    assert result.ok, result.detail
    assert marker.read_text().strip() == "free"
    assert lab.has_address("head-b", L.VIP4)


async def test_ipv6_takeover_sends_unsolicited_neighbour_advert(lab: Any, runtime: Runtime) -> None:
    held_by_a_and_known_to_client(lab, L.VIP6)
    lab.exec("head-a", "ip", "addr", "del", L.VIP6, "dev", "eth0")
    action = takeover(runtime, vip=L.VIP6)
    with lab.entered("head-b"):
        result = await action.run(ALERT, None)
        await action.stop()
    assert result.ok, result.detail
    assert L.wait_for(lambda: lab.neigh("client", L.VIP6) == lab.mac("head-b"), timeout=2)
    assert lab.ping("client", L.VIP6)


class PeerView:
    """What the heartbeat detector answers about a peer (its peer_state/paths_alive API)."""

    def __init__(self, state: str, paths: list[str]) -> None:
        self.state, self.paths = state, paths

    def peer_state(self, name: str) -> str:
        return self.state

    def paths_alive(self, name: str) -> list[str]:
        return self.paths


@pytest.mark.parametrize(("state", "paths", "ok"), [
    ("dead", [], True),
    ("dead", ["udp:hb0"], False),
    ("warn", [], False),
])
async def test_split_brain_guard_asks_the_heartbeat_detector(lab: Any, runtime: Runtime, state: str,
                                                             paths: list[str], ok: bool) -> None:
    runtime.components["detector"] = {"hb": PeerView(state, paths)}
    action = takeover(runtime, require_peer_dead_on_all_paths=True, heartbeat_detector="hb")
    with lab.entered("head-b"):
        result = await action.run(ALERT, None)
        await action.stop()
    assert result.ok is ok, result.detail
    assert lab.has_address("head-b", L.VIP4) is ok
    if not ok:
        assert result.detail.startswith("split-brain guard")


async def test_missing_heartbeat_detector_refuses(lab: Any, runtime: Runtime) -> None:
    action = takeover(runtime, require_peer_dead_on_all_paths=True, heartbeat_detector="nope")
    with lab.entered("head-b"):
        result = await action.run(ALERT, None)
    assert not result.ok and "'nope' not found" in result.detail


async def test_ping_nodes_must_answer(lab: Any, runtime: Runtime) -> None:
    answering = [L.ip4("client"), L.ip4("watcher"), f"{L.ip4('client')}:9"]
    good = takeover(runtime, ping_nodes=answering)
    bad = takeover(runtime, ping_nodes=[L.ip4("client"), "10.77.0.99"], ping_timeout="200ms")
    with lab.entered("head-b"):
        refused = await bad.run(ALERT, None)
        accepted = await good.run(ALERT, None)
        await good.stop()
    assert not refused.ok and "10.77.0.99" in refused.detail and L.ip4("client") not in refused.detail
    assert accepted.ok, accepted.detail


async def test_an_isolated_head_does_not_take_over(lab: Any, runtime: Runtime) -> None:
    lab.cut("head-b")
    action = takeover(runtime, ping_nodes=[L.ip4("client"), L.ip4("watcher")], ping_timeout="200ms")
    with lab.entered("head-b"):
        result = await action.run(ALERT, None)
    assert not result.ok and "not answering" in result.detail


async def test_standby_gives_the_vip_back_when_the_alert_resolves(lab: Any, runtime: Runtime) -> None:
    standby = takeover(runtime, auto_failback=True)
    sticky = takeover(runtime, vip="10.77.0.101/24", auto_failback=False)
    with lab.entered("head-b"):
        assert (await standby.run(ALERT, None)).ok and (await sticky.run(ALERT, None)).ok
        back = await standby.run(ALERT, None, resolved=True)
        kept = await sticky.run(ALERT, None, resolved=True)
        await standby.stop()
        await sticky.stop()
    assert back.ok and "released" in back.detail
    assert kept.ok and "keeping" in kept.detail
    assert not lab.has_address("head-b", L.VIP4)
    assert lab.has_address("head-b", "10.77.0.101")


@pytest.mark.parametrize(("preferred", "auto_failback", "keeps"), [
    (True, True, True), (False, True, False), (True, False, False), (False, False, True),
])
async def test_of_two_holders_exactly_one_keeps_when_the_peer_returns(
        lab: Any, runtime: Runtime, preferred: bool, auto_failback: bool, keeps: bool) -> None:
    lab.exec("head-a", "ip", "addr", "add", L.VIP4, "dev", "eth0")  # the peer holds it too: a split brain
    lab.exec("head-b", "ip", "addr", "add", L.VIP4, "dev", "eth0")
    action = takeover(runtime, preferred=preferred, auto_failback=auto_failback, start_probe_timeout="300ms")
    with lab.entered("head-b"):
        healed = await action.run(ALERT, None, resolved=True)
        await action.stop()
    assert healed.ok, healed.detail
    assert lab.has_address("head-b", L.VIP4) is keeps, healed.detail
    assert ("keeping" in healed.detail) is keeps


async def test_preferred_node_claims_at_start_unless_someone_answers(lab: Any, runtime: Runtime) -> None:
    lab.exec("head-b", "ip", "addr", "add", L.VIP4, "dev", "eth0")
    # The standby is alive: the split-brain guard would refuse a takeover, but claiming at start is not one.
    runtime.components["detector"] = {"hb": PeerView("up", ["lan"])}
    polite = takeover(runtime, preferred=True, auto_failback=False, start_probe_timeout="300ms",
                      require_peer_dead_on_all_paths=True, heartbeat_detector="hb")
    with lab.entered("head-a"):
        await polite.start()
        await asyncio.sleep(0.5)
        await polite.stop()
    assert not lab.has_address("head-a", L.VIP4)
    assert polite.status()["answered_by"] == lab.mac("head-b")
    lab.exec("head-b", "ip", "addr", "del", L.VIP4, "dev", "eth0")
    with lab.entered("head-a"):
        await polite.start()
        await asyncio.sleep(0.5)
        await polite.stop()
    assert lab.has_address("head-a", L.VIP4)


async def test_refresh_reannounces_while_holding(lab: Any, runtime: Runtime) -> None:
    action = takeover(runtime, garp_count=1, refresh_interval="50ms")
    with lab.entered("head-b"):
        assert (await action.run(ALERT, None)).ok
        await asyncio.sleep(0.4)
        assert action.status()["refreshing"] is True
        assert action.status()["announcements"] >= 4
        lab.exec("head-b", "ip", "addr", "del", L.VIP4, "dev", "eth0")
        await asyncio.sleep(0.2)
        assert action.status()["refreshing"] is False
        await action.stop()


async def test_dry_run_changes_nothing(lab: Any, runtime: Runtime) -> None:
    runtime.dry_run = True
    action = takeover(runtime, fence=["false"])
    lab.exec("head-a", "ip", "addr", "add", L.VIP4, "dev", "eth0")
    with lab.entered("head-b"):
        took = await action.run(ALERT, None)
    with lab.entered("head-a"):
        released = await release(runtime).run(ALERT, None)
    assert took.ok and took.detail.startswith("dry run: would fence head-a and take over"), took.detail
    assert released.ok and released.detail.startswith("dry run: would release")
    assert lab.has_address("head-a", L.VIP4) and not lab.has_address("head-b", L.VIP4)


async def test_missing_interface_is_reported_not_fatal(lab: Any, runtime: Runtime) -> None:
    action = takeover(runtime, interface="eth9")
    with lab.entered("head-b"):
        await action.start()
        result = await action.run(ALERT, None)
        await action.stop()
    assert "eth9 does not exist" in action.status()["start_problem"]
    assert not result.ok and "eth9 does not exist" in result.detail


def test_gratuitous_arp_frame_layout() -> None:
    from faultmgr_vip.announce import gratuitous_arp, neighbour_advert, parse_arp

    mac = bytes.fromhex("020000000001")
    frame = gratuitous_arp(mac, "10.77.0.100")
    assert len(frame) == 42
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == mac and frame[12:14] == b"\x08\x06"
    assert parse_arp(frame) == (1, mac, "10.77.0.100", "10.77.0.100")
    advert = neighbour_advert("fd77::100", mac)
    assert advert[0] == 136 and advert[4] & 0x20 and len(advert) == 32
    assert advert[8:24] == socket.inet_pton(socket.AF_INET6, "fd77::100") and advert[-6:] == mac


def test_settings_are_checked() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="prefix length"):
        VipTakeover.Settings(vip="10.0.0.1", interface="eth0")
    with pytest.raises(ValidationError, match="heartbeat_detector"):
        VipTakeover.Settings(vip="10.0.0.1/24", interface="eth0", require_peer_dead_on_all_paths=True)
    with pytest.raises(ValidationError):
        VipTakeover.Settings(vip="10.0.0.1/24", interface="eth0", garp_intervl="1s")
