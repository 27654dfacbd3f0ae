"""``faultmgr_failovers_total`` counts takeovers that added the address, nothing else; refusals have their own
counter. Real ``vip.takeover`` actions produce the runs: refused by the guard in the shared daemon, and in this
process a dry run, a takeover in a network namespace of its own, a re-announcement and a release."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faultmgr_api.metrics import ApiMetrics, DaemonCollector
from faultmgr_heartbeat import HeartbeatDetector
from faultmgr_heartbeat.auth import load_key_file
from faultmgr_heartbeat.protocol import Packet, encode
from faultmgr_vip import VipTakeover
from loopback import free_port
from prereq import need_program, need_root

from faultmgr.alert import AlertView
from faultmgr.runtime import Runtime

Daemon = Any
ALERT = AlertView(id=1, fingerprint="fp", rule="peer-dead", subject="head-b", severity="critical", state="firing")
CLONE_NEWNET = 0x40000000


def test_guard_refusal_counts_as_a_refusal_not_a_failover(daemon: Daemon) -> None:
    # The rule runs vip-web, whose split-brain guard is pointed at a detector that is no heartbeat: a refusal.
    before = daemon.metrics()
    daemon.inject("metrics-vip", kind="vip.peer.lost", severity="critical")
    after = daemon.metrics_after(before, "faultmgr_failover_refusals_total", action="vip-web")
    assert after.value("faultmgr_failovers_total", action="vip-web") == \
        before.value("faultmgr_failovers_total", action="vip-web")
    assert after.value("faultmgr_action_runs_total", action="vip-web", type="vip.takeover", outcome="failed") == \
        before.value("faultmgr_action_runs_total", action="vip-web", type="vip.takeover", outcome="failed") + 1


@contextlib.contextmanager
def netns() -> Iterator[str]:
    """A fresh network namespace (loopback up), removed afterwards."""
    need_root()
    ip = need_program("ip", "iproute2")
    name = f"fm-api-metrics-{os.getpid()}"
    subprocess.run([ip, "netns", "add", name], check=True)
    try:
        subprocess.run([ip, "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run([ip, "netns", "del", name], check=False)


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """The calling thread inside namespace ``name`` for the block (netlink sockets opened there stay there)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{name}") as target:
        assert libc.setns(target.fileno(), CLONE_NEWNET) == 0, os.strerror(ctypes.get_errno())
        try:
            yield
        finally:
            assert libc.setns(home.fileno(), CLONE_NEWNET) == 0, os.strerror(ctypes.get_errno())


def counts(metrics: ApiMetrics) -> dict[str, float]:
    out = {}
    for counter in (metrics.failovers, metrics.refusals, metrics.releases):
        for family in counter.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out[family.name] = out.get(family.name, 0.0) + sample.value
    return out


def wired(action: VipTakeover) -> ApiMetrics:
    """ApiMetrics over the real action; the daemon around it is reduced to the two tables metrics reads."""
    daemon = SimpleNamespace(config=SimpleNamespace(actions={action.name: SimpleNamespace(type="vip.takeover")}),
                             instances={"action": {action.name: action}, "detector": {}})
    return ApiMetrics(daemon)  # type: ignore[arg-type]


async def run(metrics: ApiMetrics, action: VipTakeover, resolved: bool = False) -> Any:
    """What the action runner does: run the action, then report the outcome."""
    result = await action.run(ALERT, None, resolved)
    metrics.action_outcome(action.name, result.ok)
    return result


def takeover(runtime: Runtime, **kw: Any) -> VipTakeover:
    return VipTakeover("vip-test", VipTakeover.Settings(**{
        "vip": "10.77.0.1/32", "interface": "lo", "garp_count": 1, "refresh_interval": None,
        "require_peer_dead_on_all_paths": False, **kw}), runtime)


async def test_a_dry_run_takeover_is_no_failover(tmp_path: Path) -> None:
    action = takeover(Runtime(emit=lambda e: None, state_dir=tmp_path, dry_run=True))
    metrics = wired(action)
    result = await run(metrics, action)
    assert result.ok and result.data["changed"] is False and result.detail.startswith("dry run")
    assert counts(metrics) == {}


@pytest.mark.netns
async def test_failover_counted_once_when_the_address_is_added(tmp_path: Path) -> None:
    with netns() as name, entered(name):
        action = takeover(Runtime(emit=lambda e: None, state_dir=tmp_path), auto_failback=True)
        metrics = wired(action)
        metrics.attach()  # no runner here: only the baseline is taken
        try:
            took = await run(metrics, action)
            assert took.ok and took.data["changed"] is True, took.detail
            again = await run(metrics, action)  # already held: re-announced, no failover
            assert again.ok and again.data["changed"] is False, again.detail
            assert counts(metrics) == {"faultmgr_failovers": 1.0}
            back = await run(metrics, action, resolved=True)  # peer back, auto_failback: released here
            assert back.ok and back.data["changed"] is True, back.detail
            assert counts(metrics) == {"faultmgr_failovers": 1.0, "faultmgr_vip_releases": 1.0}
        finally:
            await action.stop()


async def test_heartbeat_path_stats_become_counters_and_a_histogram(tmp_path: Path) -> None:
    # A real heartbeat detector on loopback UDP, fed beats 1, 2 and 4 signed by hand (beat 3 is lost).
    keys = tmp_path / "hb.keys"
    keys.write_text("k1 " + "11" * 32 + "\n")
    keys.chmod(0o600)
    port = free_port()
    hb = HeartbeatDetector("hb", HeartbeatDetector.Settings(
        node="head-a", peers=["head-b"], key_file=keys, keepalive="50ms", warntime="1s", deadtime="2s",
        initdead="5s", realtime=False, paths=[{"type": "udp", "name": "lan", "bind": f"127.0.0.1:{port}"}]),
        Runtime(emit=lambda e: None, state_dir=tmp_path))
    await hb.start()
    try:
        key = load_key_file(keys).send_key
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for seq in (1, 2, 4):
                sock.sendto(encode(Packet("head-b", 5, seq, 0.0), key), ("127.0.0.1", port))
                deadline = time.monotonic() + 10
                while hb.status()["peers"]["head-b"]["seq"] != seq:
                    assert time.monotonic() < deadline, f"beat {seq} not accepted"
                    await asyncio.sleep(0.01)
        daemon = SimpleNamespace(config=SimpleNamespace(detectors={"hb": SimpleNamespace(type="heartbeat")}),
                                 instances={"detector": {"hb": hb}})
        families = list(DaemonCollector(daemon)._heartbeat_counts(daemon))  # type: ignore[arg-type]
    finally:
        await hb.stop()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}
    labels = {"detector": "hb", "path": "lan", "peer": "head-b"}

    def key_of(name: str, **extra: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted({**labels, **extra}.items()))

    assert samples[key_of("faultmgr_heartbeat_beats_received_total")] == 3
    assert samples[key_of("faultmgr_heartbeat_beats_lost_total")] == 1
    assert samples[key_of("faultmgr_heartbeat_interarrival_seconds_bucket", le="10.0")] <= 2
    assert samples[key_of("faultmgr_heartbeat_interarrival_seconds_bucket", le="+Inf")] == 2
    assert samples[key_of("faultmgr_heartbeat_interarrival_seconds_count")] == 2
    assert samples[key_of("faultmgr_heartbeat_interarrival_seconds_sum")] > 0
    # Without path_stats() (a detector of another kind) the families are left out, not exported empty.
    daemon.instances["detector"]["hb"] = object()
    assert list(DaemonCollector(daemon)._heartbeat_counts(daemon)) == []  # type: ignore[arg-type]
