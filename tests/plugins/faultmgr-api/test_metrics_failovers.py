"""``faultmgr_failovers_total`` counts takeovers that added the address, nothing else; refusals have their own
counter. Real ``vip.takeover`` actions produce the runs: refused by the guard in the shared daemon, and in this
process a dry run, a takeover in a network namespace of its own, a re-announcement and a release."""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faultmgr_api.metrics import ApiMetrics, DaemonCollector
from faultmgr_vip import VipTakeover
from prereq import need_program, need_root
from prometheus_client.parser import text_string_to_metric_families

from faultmgr.alert import AlertView
from faultmgr.runtime import Runtime

Daemon = Any
ALERT = AlertView(id=1, fingerprint="fp", rule="peer-dead", subject="head-b", severity="critical", state="firing")
CLONE_NEWNET = 0x40000000


def scrape(daemon: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = daemon.get("/metrics", token=None).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_guard_refusal_counts_as_a_refusal_not_a_failover(daemon: Daemon) -> None:
    # The rule runs vip-web, whose split-brain guard is pointed at a detector that is no heartbeat: a refusal.
    before = scrape(daemon)
    daemon.inject("metrics-vip", kind="vip.peer.lost", severity="critical")
    deadline = time.monotonic() + 15
    while True:
        after = scrape(daemon)
        if value(after, "faultmgr_failover_refusals_total", action="vip-web") > \
                value(before, "faultmgr_failover_refusals_total", action="vip-web"):
            break
        assert time.monotonic() < deadline, "refusal not counted"
        time.sleep(0.1)
    assert value(after, "faultmgr_failovers_total", action="vip-web") == \
        value(before, "faultmgr_failovers_total", action="vip-web")
    assert value(after, "faultmgr_action_runs_total", action="vip-web", type="vip.takeover", outcome="failed") == \
        value(before, "faultmgr_action_runs_total", action="vip-web", type="vip.takeover", outcome="failed") + 1


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


class PathStatsDetector:
    """A heartbeat detector reduced to the ``path_stats()`` contract that metrics.py documents. The heartbeat
    plugin does not offer it yet; this pins the exporter's side so the counters light up when it does."""

    def status(self) -> dict[str, Any]:
        return {"peers": {}}

    def path_stats(self) -> dict[str, Any]:
        gaps = {"buckets": [(0.25, 8), (0.5, 9), (float("inf"), 10)], "sum_s": 2.4, "count": 10}
        return {"head-b": {"lan": {"beats": 11, "lost": 3, "interarrival": gaps}}}


def test_heartbeat_path_stats_become_counters_and_a_histogram() -> None:
    daemon = SimpleNamespace(config=SimpleNamespace(detectors={"hb": SimpleNamespace(type="heartbeat")}),
                             instances={"detector": {"hb": PathStatsDetector()}})
    families = list(DaemonCollector(daemon)._heartbeat_counts(daemon))  # type: ignore[arg-type]
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}
    labels = {"detector": "hb", "path": "lan", "peer": "head-b"}

    def key(name: str, **extra: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted({**labels, **extra}.items()))

    assert samples[key("faultmgr_heartbeat_beats_received_total")] == 11
    assert samples[key("faultmgr_heartbeat_beats_lost_total")] == 3
    assert samples[key("faultmgr_heartbeat_interarrival_seconds_bucket", le="0.25")] == 8
    assert samples[key("faultmgr_heartbeat_interarrival_seconds_bucket", le="+Inf")] == 10
    assert samples[key("faultmgr_heartbeat_interarrival_seconds_sum")] == 2.4
    # Without path_stats() (today's heartbeat plugin) the families are left out, not exported empty.
    daemon.instances["detector"]["hb"] = object()
    assert list(DaemonCollector(daemon)._heartbeat_counts(daemon)) == []  # type: ignore[arg-type]
