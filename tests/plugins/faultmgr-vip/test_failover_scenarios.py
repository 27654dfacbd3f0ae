"""Failover scenarios with real faultmgr daemons in the lab: heartbeat detectors, rules and vip.takeover in
head-a and head-b, the eHB watcher, a TCP service on the VIP and a client polling it every 5 ms.

Timing: keepalive 100 ms, deadtime 300 ms. No test asserts an absolute time; each waits for a state with a
generous limit and checks who serves the client.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faultmgr_vip_lab as L
import faultmgr_vip_lab_daemons as D
import pytest
from prereq import need

pytestmark = [pytest.mark.netns, pytest.mark.slow]
PORT = 18080


@pytest.fixture
def cluster_factory(lab: Any, tmp_path: Path) -> Iterator[Any]:
    """Build a :class:`Cluster` with the given options; the service runs in both heads."""
    why = D.daemon_available()
    need(why is None, why or "")
    lab.serve(PORT)

    made: list[D.Cluster] = []

    def make(**kw: Any) -> D.Cluster:
        cluster = D.Cluster(lab, tmp_path, L.VIP4, **kw)
        cluster.write(L.ip4)
        made.append(cluster)
        return cluster

    yield make  # the lab's teardown kills the daemons
    for cluster in made:  # shown by pytest when a test fails (or with -rP)
        for node in ("head-a", "head-b", "watcher"):
            print(f"===== {node}\n{cluster.log(node)}")


def start_all(lab: Any, cluster: Any) -> None:
    for node in ("watcher", "head-a", "head-b"):
        cluster.start(node)
    assert L.wait_for(lambda: lab.has_address("head-a", L.VIP4), timeout=15), cluster.log("head-a")
    time.sleep(1.0)
    assert not lab.has_address("head-b", L.VIP4), cluster.log("head-b")


def holders(lab: Any) -> list[str]:
    return [n for n in ("head-a", "head-b") if lab.has_address(n, L.VIP4)]


def standby_serves_after(lab: Any, cluster: Any, fault: Any) -> dict[str, Any]:
    """Inject ``fault()`` while the client polls; head-b must take the VIP and serve. The poller's report."""
    poller = lab.poller(L.VIP4, PORT)
    time.sleep(0.5)
    fault()
    assert L.wait_for(lambda: lab.has_address("head-b", L.VIP4), timeout=10), cluster.log("head-b")
    time.sleep(1.0)
    seen: dict[str, Any] = poller.stop()
    assert seen["last"] == "head-b", seen
    assert seen["answers"].get("head-a") and seen["answers"].get("head-b")
    assert "(fire): ok took over" in cluster.log("head-b")
    return seen


def test_primary_killed_standby_takes_over(lab: Any, cluster_factory: Any) -> None:
    cluster = cluster_factory()
    start_all(lab, cluster)
    standby_serves_after(lab, cluster, lambda: cluster.kill("head-a"))


def test_primary_link_cut_standby_takes_over(lab: Any, cluster_factory: Any) -> None:
    # Heartbeat on the segment only, as VRRP: the cut silences head-a on every path.
    cluster = cluster_factory(xover=False)
    start_all(lab, cluster)
    standby_serves_after(lab, cluster, lambda: lab.cut("head-a"))
    # The isolated head-a lost its peer too; it already holds the address, so its run changes nothing.
    assert "(fire): ok took over" not in cluster.log("head-a")


def test_split_brain_is_settled_by_fencing(lab: Any, cluster_factory: Any) -> None:
    """The heads lose each other (bridge ports isolated, crossover cut) but both still reach the client and
    the watcher: the guard's evidence cannot tell who is right, so head-b powers head-a off first."""
    cluster = cluster_factory(fence={"head-b": D.power_off_command(lab, "head-a")})
    start_all(lab, cluster)
    poller = lab.poller(L.VIP4, PORT)
    time.sleep(0.5)
    lab.isolate_heads()
    assert L.wait_for(lambda: lab.has_address("head-b", L.VIP4), timeout=10), cluster.log("head-b")
    assert holders(lab) == ["head-b"]
    time.sleep(1.0)
    assert holders(lab) == ["head-b"]
    seen = poller.stop()
    assert seen["last"] == "head-b", seen
    assert "(fire): ok took over 10.77.0.100/24 on eth0 after fencing head-a" in cluster.log("head-b")


@pytest.mark.parametrize("auto_failback", [True, False])
def test_healed_split_brain_leaves_one_holder(lab: Any, cluster_factory: Any, auto_failback: bool) -> None:
    """Without a fence or an arbiter both heads hold the VIP while they cannot hear each other; once they do
    again, one releases it and the other announces it, so the client ends up on one holder: the preferred head with
    auto_failback, the standby without."""
    cluster = cluster_factory(auto_failback=auto_failback)
    start_all(lab, cluster)
    lab.isolate_heads()
    assert L.wait_for(lambda: holders(lab) == ["head-a", "head-b"], timeout=10), cluster.log("head-b")
    poller = lab.poller(L.VIP4, PORT)
    time.sleep(0.3)
    lab.isolate_heads(on=False)
    keeper = "head-a" if auto_failback else "head-b"
    assert L.wait_for(lambda: holders(lab) == [keeper], timeout=10), (cluster.log("head-a"),
                                                                      cluster.log("head-b"))
    time.sleep(1.0)
    assert holders(lab) == [keeper]
    seen = poller.stop()
    assert seen["last"] == keeper, seen
    assert L.wait_for(lambda: "keeping the address and announcing it again" in cluster.log(keeper), timeout=5)


def test_split_brain_settled_by_the_arbiter(lab: Any, cluster_factory: Any) -> None:
    """The heads lose each other but the watcher, as arbiter, still hears both: without a fence head-b must not
    take the VIP (one holder, head-a, which keeps serving). When head-a then dies for good (powered off), the
    arbiter stops hearing it and head-b's refused takeover goes ahead."""
    cluster = cluster_factory(arbiter=True)
    start_all(lab, cluster)
    poller = lab.poller(L.VIP4, PORT)
    time.sleep(0.3)
    lab.isolate_heads()
    refusal = "peer head-a alive according to the arbiter: only the link between heads is down"
    assert L.wait_for(lambda: refusal in cluster.log("head-b"), timeout=15), cluster.log("head-b")
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert holders(lab) == ["head-a"], cluster.log("head-b")
        time.sleep(0.1)
    seen = poller.stop()
    assert seen["last"] == "head-a" and set(seen["answers"]) == {"head-a"}, seen

    poller = lab.poller(L.VIP4, PORT)
    time.sleep(0.3)
    L.run(D.power_off_command(lab, "head-a"))
    assert L.wait_for(lambda: holders(lab) == ["head-b"], timeout=15), cluster.log("head-b")
    assert "took over 10.77.0.100/24 on eth0 (the arbiter does not hear head-a either)" in cluster.log("head-b")
    time.sleep(0.5)
    seen = poller.stop()
    assert seen["last"] == "head-b", seen


def test_split_brain_without_quorum_evidence_keeps_one_holder(lab: Any, cluster_factory: Any) -> None:
    """Only the crossover link is cut: the peer is still heard on the segment, so nobody takes over."""
    cluster = cluster_factory()
    start_all(lab, cluster)
    lab.cut("head-a", "hb0")
    time.sleep(2.0)
    assert holders(lab) == ["head-a"]


def test_primary_public_link_cut_with_heartbeat_on_crossover(lab: Any, cluster_factory: Any) -> None:
    """ipfail: head-a loses its public link but still beats to head-b over the crossover cable. head-a
    reports it reaches none of its ping nodes, head-b all: head-b takes the VIP over (the peer is alive, but
    the guard accepts the connectivity evidence) and head-a releases it. When the link is back the address
    stays where it moved (auto_failback off, as the shipped rules): one holder throughout."""
    cluster = cluster_factory(connectivity_failover=True, auto_failback=False)
    start_all(lab, cluster)
    standby_serves_after(lab, cluster, lambda: lab.cut("head-a"))
    assert "took over 10.77.0.100/24 on eth0 (peer head-a reaches 0 of 2 ping node(s)" in cluster.log("head-b")
    assert L.wait_for(lambda: holders(lab) == ["head-b"], timeout=10), cluster.log("head-a")
    assert "released 10.77.0.100/24 for the peer to take over" in cluster.log("head-a")
    lab.restore("head-a")
    poller = lab.poller(L.VIP4, PORT)
    assert L.wait_for(lambda: "ping nodes reached again" in cluster.log("head-a"), timeout=10), cluster.log("head-a")
    time.sleep(1.0)
    assert holders(lab) == ["head-b"]
    seen = poller.stop()
    assert seen["last"] == "head-b" and set(seen["answers"]) == {"head-b"}, seen


@pytest.mark.parametrize("auto_failback", [True, False])
def test_primary_returns(lab: Any, cluster_factory: Any, auto_failback: bool) -> None:
    cluster = cluster_factory(auto_failback=auto_failback)
    start_all(lab, cluster)
    cluster.kill("head-a")
    assert L.wait_for(lambda: lab.has_address("head-b", L.VIP4), timeout=10), cluster.log("head-b")
    time.sleep(0.5)
    poller = lab.poller(L.VIP4, PORT)
    time.sleep(0.3)
    cluster.start("head-a")
    want = "head-a" if auto_failback else "head-b"
    assert L.wait_for(lambda: holders(lab) == [want], timeout=15), (holders(lab), cluster.log("head-a"),
                                                                    cluster.log("head-b"))
    time.sleep(1.0)
    assert holders(lab) == [want]
    seen = poller.stop()
    assert seen["last"] == want, seen


def test_both_heads_dead_pages_from_the_watcher(lab: Any, cluster_factory: Any) -> None:
    cluster = cluster_factory(smtp_port=2525)
    cluster.start_smtp()
    start_all(lab, cluster)
    assert cluster.pages() == [] and cluster.mails() == []
    cluster.kill("head-a")
    time.sleep(1.0)
    assert cluster.pages() == [], "one head dead is not a page"
    cluster.kill("head-b")
    assert L.wait_for(lambda: cluster.pages() and cluster.mails(), timeout=15), cluster.log("watcher")
    assert "heads-dead" in str(cluster.pages()[0])
    mail = cluster.mails()[0]
    assert mail["To"] == "oncall@example.org"
    assert "both head nodes are dead" in str(mail["Subject"]), mail["Subject"]
