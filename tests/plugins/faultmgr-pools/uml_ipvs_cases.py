"""IPVS cases run *inside* user-mode Linux by test_ipvs_uml.py (not collected on the host: no IPVS there).

Each case drives the real code (backend, controller, actions) against the guest kernel's IPVS table and
reads the table back twice: with pyroute2 directly and with ``ipvsadm -Ln`` as a cross-check.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from faultmgr_pools.actions import AddAction, QuiesceAction, RemoveAction, ReweightAction
from faultmgr_pools.backend import BackendError, Target
from faultmgr_pools.controller import PoolController
from faultmgr_pools.health import HealthCheck
from faultmgr_pools.ipvs import IpvsPoolBackend
from faultmgr_pools.model import PoolsModel
from faultmgr_pools.nodes import PoolDirectory
from faultmgr_pools.rulefile import join, retire
from prereq import need, need_program
from pyroute2 import AsyncIPVS, IPVSService

from faultmgr.alert import AlertView
from faultmgr.event import Event
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore

VIP, PORT = "10.9.0.1", 80
ADDRESSES = {"rs1": "10.9.0.2", "rs2": "10.9.0.3", "rs3": "10.9.0.4", "sorry": "10.9.0.99"}


def sh(command: str) -> str:
    return subprocess.run(command, shell=True, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session", autouse=True)
def guest_network() -> Iterator[None]:
    """A dummy interface holding the VIP and the real servers' addresses, and one echo listener on :80.

    IPVS delivers to a real server whose address is local (LOCALNODE) without rewriting the destination,
    so a single socket on 0.0.0.0:80 answers for every real server."""
    with open("/proc/modules") as modules:
        need("ip_vs " in modules.read(), "needs the ip_vs module (run inside UML)")
    need_program("ipvsadm")
    sh("ip link set lo up; ip link add fm0 type dummy; ip link set fm0 up")
    for address in [VIP, *ADDRESSES.values()]:
        sh(f"ip addr add {address}/32 dev fm0")
    listener = socket.create_server(("0.0.0.0", PORT))

    def echo(conn: socket.socket) -> None:
        with conn:
            for data in iter(lambda: conn.recv(100), b""):
                conn.sendall(data)

    def serve() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield
    listener.close()


@pytest.fixture(autouse=True)
def empty_table() -> None:
    sh("ipvsadm -C")


def pools(**pool: Any) -> PoolsModel:
    base: dict[str, Any] = {
        "service": {"address": VIP, "port": PORT, "scheduler": "wrr"},
        "backend": {"type": "ipvs"},
        "servers": [{"name": "rs1", "address": ADDRESSES["rs1"], "weight": 5},
                    {"name": "rs2", "address": ADDRESSES["rs2"], "weight": 3},
                    {"name": "rs3", "address": ADDRESSES["rs3"], "weight": 2, "standby": True}],
    }
    return PoolsModel.model_validate({"web": {**base, **pool}})


async def kernel_table() -> dict[str, tuple[int, int]]:
    """``address:port`` -> (weight, active connections), straight from netlink."""
    service = IPVSService(addr=VIP, port=PORT, protocol=socket.IPPROTO_TCP)
    async with AsyncIPVS() as ipvs:
        await ipvs.setup_endpoint()
        table = {}
        for msg in await ipvs.dest("dump", service=service):
            dest = msg.get_attr("IPVS_CMD_ATTR_DEST")
            key = f"{dest.get_attr('IPVS_DEST_ATTR_ADDR')}:{dest.get_attr('IPVS_DEST_ATTR_PORT')}"
            table[key] = (dest.get_attr("IPVS_DEST_ATTR_WEIGHT"), dest.get_attr("IPVS_DEST_ATTR_ACTIVE_CONNS"))
        return table


def ipvsadm_table() -> tuple[str | None, dict[str, tuple[str, int, int]]]:
    """(scheduler, ``address:port`` -> (forward, weight, active)) from ``ipvsadm -Ln``."""
    scheduler, table = None, {}
    for line in sh("ipvsadm -Ln").splitlines():
        service = re.match(rf"TCP\s+{re.escape(VIP)}:{PORT}\s+(\S+)", line)
        if service:
            scheduler = service.group(1)
        dest = re.match(r"\s+->\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)", line)
        if dest:
            table[dest.group(1)] = (dest.group(2), int(dest.group(3)), int(dest.group(4)))
    return scheduler, table


async def weights() -> dict[str, int]:
    """Both views must agree; returns ``name`` -> weight."""
    names = {f"{a}:{PORT}": n for n, a in ADDRESSES.items()}
    netlink = {names.get(k, k): w for k, (w, _) in (await kernel_table()).items()}
    _, table = ipvsadm_table()
    assert {names.get(k, k): w for k, (_, w, _) in table.items()} == netlink
    return netlink


def alert(subject: str) -> AlertView:
    return AlertView(id=1, fingerprint=f"fp-{subject}", rule="probe-down", subject=subject,
                     severity="critical", state="firing")


def runtime(model: PoolsModel, events: list[Event], store: KeyValueStore | None = None) -> Runtime:
    return Runtime(emit=events.append, store=store or KeyValueStore.memory(),
                   config=SimpleNamespace(sections={"pools": model}))  # type: ignore[arg-type]


async def test_reconcile_creates_service_and_real_servers() -> None:
    controller = PoolController("web", pools().pools["web"])
    report = await controller.reconcile()
    assert sorted(report.changes) == ["add rs1 weight 5", "add rs2 weight 3"]
    assert report.serving == 2 and report.errors == []
    assert await weights() == {"rs1": 5, "rs2": 3}
    scheduler, table = ipvsadm_table()
    assert scheduler == "wrr"
    assert {forward for forward, _, _ in table.values()} == {"Route"}
    assert (await controller.reconcile()).changes == []


async def test_actions_reweight_quiesce_remove_add_and_restore() -> None:
    model, events = pools(), []
    rt = runtime(model, events)
    reweight = ReweightAction("rw", ReweightAction.Settings(pool="web", weight=9), rt)
    quiesce = QuiesceAction("q", QuiesceAction.Settings(pool="web"), rt)
    remove = RemoveAction("rm", RemoveAction.Settings(pool="web"), rt)
    add = AddAction("add", AddAction.Settings(pool="web", check_timeout=5), rt)
    for action in (reweight, quiesce, remove, add):
        await action.start()
    assert await weights() == {"rs1": 5, "rs2": 3}

    result = await reweight.run(alert("rs1"), None)
    assert result.ok and await weights() == {"rs1": 9, "rs2": 3}
    await reweight.run(alert("rs1"), None, resolved=True)
    assert await weights() == {"rs1": 5, "rs2": 3}

    assert (await quiesce.run(alert("rs2"), None)).ok
    assert await weights() == {"rs1": 5, "rs2": 0}
    await quiesce.run(alert("rs2"), None, resolved=True)
    assert await weights() == {"rs1": 5, "rs2": 3}

    assert (await remove.run(alert("rs1"), None)).ok
    assert await weights() == {"rs2": 3}
    await remove.run(alert("rs1"), None, resolved=True)
    assert await weights() == {"rs1": 5, "rs2": 3}

    # rs3 is a standby: pool.add brings it in once it answers on :80, resolving drains it out.
    assert (await add.run(alert("rs3"), None)).ok
    assert await weights() == {"rs1": 5, "rs2": 3, "rs3": 2}
    await add.run(alert("rs3"), None, resolved=True)
    assert await weights() == {"rs1": 5, "rs2": 3}

    skipped = await quiesce.run(alert("elsewhere"), None)
    assert skipped.ok and "skipped" in skipped.detail
    assert events == []  # quorum (1) held throughout


class RecordingBackend(IpvsPoolBackend):
    """The real IPVS backend, noting which servers got a command."""

    touched: list[str]

    async def add(self, target: Target, weight: int) -> None:
        self.touched.append(target.name)
        await super().add(target, weight)

    async def remove(self, target: Target) -> None:
        self.touched.append(target.name)
        await super().remove(target)

    async def set_weight(self, target: Target, weight: int) -> None:
        self.touched.append(target.name)
        await super().set_weight(target, weight)


def thresholds(address: str) -> tuple[int, int]:
    """(upper, lower) connection thresholds of a real server, from ``ipvsadm -Ln --thresholds``."""
    match = re.search(rf"->\s+{re.escape(address)}:{PORT}\s+(\d+)\s+(\d+)", sh("ipvsadm -Ln --thresholds"))
    assert match, sh("ipvsadm -Ln --thresholds")
    return int(match.group(1)), int(match.group(2))


async def test_reconciliation_leaves_unchanged_servers_and_connections_alone() -> None:
    only_rs1 = pools(servers=[{"name": "rs1", "address": ADDRESSES["rs1"], "weight": 5}])
    await PoolController("web", only_rs1.pools["web"]).reconcile()
    client = socket.create_connection((VIP, PORT), timeout=5)
    client.sendall(b"before")
    assert client.recv(100) == b"before"
    assert (await kernel_table())[f"{ADDRESSES['rs1']}:{PORT}"] == (5, 1)
    # Thresholds set by hand: any command reaching rs1 (set, or delete and add) would reset them to 0.
    sh(f"ipvsadm -e -t {VIP}:{PORT} -r {ADDRESSES['rs1']}:{PORT} -g -w 5 -x 100 -y 10")

    # Drift out of band: rs2 appears with a wrong weight, a stranger appears too.
    sh(f"ipvsadm -a -t {VIP}:{PORT} -r {ADDRESSES['rs2']}:{PORT} -g -w 9")
    sh(f"ipvsadm -a -t {VIP}:{PORT} -r {ADDRESSES['sorry']}:{PORT} -g -w 1")
    model = pools().pools["web"]
    assert model.service is not None and model.backend.type == "ipvs"
    backend = RecordingBackend(model.service, model.backend)
    backend.touched = []
    report = await PoolController("web", model, backend=backend).reconcile()

    assert sorted(report.changes) == ["remove 10.9.0.99:80", "weight rs2 weight 3"]
    assert sorted(backend.touched) == ["10.9.0.99:80", "rs2"]
    assert thresholds(ADDRESSES["rs1"]) == (100, 10)
    assert (await kernel_table())[f"{ADDRESSES['rs1']}:{PORT}"] == (5, 1)
    _, table = ipvsadm_table()
    assert table[f"{ADDRESSES['rs1']}:{PORT}"] == ("Route", 5, 1)
    client.sendall(b"after")
    assert client.recv(100) == b"after"
    client.close()
    assert await weights() == {"rs1": 5, "rs2": 3}


async def test_sorry_server_and_quorum_events() -> None:
    model = pools(quorum=2, sorry={"name": "sorry", "address": ADDRESSES["sorry"], "weight": 1})
    events: list[Event] = []
    rt = runtime(model, events)
    quiesce = QuiesceAction("q", QuiesceAction.Settings(pool="web"), rt)
    await quiesce.start()
    assert await weights() == {"rs1": 5, "rs2": 3, "sorry": 0}

    result = await quiesce.run(alert("rs1"), None)
    assert result.data["serving"] == 1 and not result.data["quorum_ok"]
    assert [(e.kind, str(e.severity), e.subject) for e in events] == [("pool.quorum.lost", "critical", "web")]

    result = await quiesce.run(alert("rs2"), None)
    assert result.data["sorry_active"] and await weights() == {"rs1": 0, "rs2": 0, "sorry": 1}

    await quiesce.run(alert("rs1"), None, resolved=True)
    assert await weights() == {"rs1": 5, "rs2": 0, "sorry": 0}
    await quiesce.run(alert("rs2"), None, resolved=True)
    assert [e.kind for e in events] == ["pool.quorum.lost", "pool.quorum.ok"]
    assert str(events[-1].severity) == "ok"


async def test_overrides_survive_a_restart_and_scheduler_changes_in_place() -> None:
    store, events = KeyValueStore.memory(), []
    first = QuiesceAction("q", QuiesceAction.Settings(pool="web"), runtime(pools(), events, store))
    await first.start()
    await first.run(alert("rs2"), None)
    # A restart (new instances, same store) with a new scheduler in the rule file.
    again = QuiesceAction("q", QuiesceAction.Settings(pool="web"),
                          runtime(pools(service={"address": VIP, "port": PORT, "scheduler": "wlc"}), events, store))
    await again.start()
    scheduler, _ = ipvsadm_table()
    assert scheduler == "wlc"
    assert await weights() == {"rs1": 5, "rs2": 0}, "the open alert's quiesce must survive the restart"


async def test_rule_file_edits_drain_the_removed_server_and_hold_the_new_one_until_healthy() -> None:
    """IPVS prunes what the pool does not know (``prune`` defaults to true): a server gone from the rule file
    must still wait for its drain, and a new one for its health check."""
    store = KeyValueStore.memory()
    first = PoolDirectory(pools(), store)
    await first.controller("web").reconcile()
    assert await weights() == {"rs1": 5, "rs2": 3}
    # The reload: rs2 is gone from the file, rs3 (now a plain real server) and rs4 are new.
    second = PoolDirectory(pools(servers=[{"name": "rs1", "address": ADDRESSES["rs1"], "weight": 5},
                                          {"name": "rs3", "address": ADDRESSES["rs3"], "weight": 2},
                                          {"name": "rs4", "address": "10.9.0.5", "weight": 4}]), store)
    first.supersede(second)
    controller = second.controller("web")
    assert (await controller.reconcile()).changes == []
    assert await weights() == {"rs1": 5, "rs2": 3}, "rs2 must not be pruned before it is drained"
    assert controller.overrides()["rs2"]["retiring"] and controller.overrides()["rs3"]["joining"]

    drained = await retire(controller, "rs2")
    assert drained is not None and drained.drained and drained.report.changes == ["remove rs2"]
    assert await weights() == {"rs1": 5} and "rs2" not in controller.overrides()

    joined = await join(controller, "rs3", HealthCheck("TCP check", rise=2, interval=0.05))
    assert joined is not None and joined.changes == ["add rs3 weight 2"]
    assert await weights() == {"rs1": 5, "rs3": 2}
    # rs4's address is not on the guest: nothing answers it, so it stays out.
    waiting = asyncio.create_task(join(controller, "rs4", HealthCheck("TCP check", rise=1, interval=0.05,
                                                                      timeout=0.2)))
    await asyncio.sleep(1.0)
    assert not waiting.done() and await weights() == {"rs1": 5, "rs3": 2}
    waiting.cancel()
    # The next reload drops rs4 (still held: its hold is forgotten) and brings rs2 back: it is out of the
    # table by now, so it is a new server again and waits for its own health check.
    third = PoolDirectory(pools(servers=[{"name": "rs1", "address": ADDRESSES["rs1"], "weight": 5},
                                         {"name": "rs2", "address": ADDRESSES["rs2"], "weight": 3},
                                         {"name": "rs3", "address": ADDRESSES["rs3"], "weight": 2}]), store)
    second.supersede(third)
    assert (await third.controller("web").reconcile()).changes == []
    assert await weights() == {"rs1": 5, "rs3": 2}
    assert third.controller("web").overrides() == {"rs2": {"joining": True, "removed": True}}


async def test_udp_service_and_missing_module_errors() -> None:
    udp = PoolController("dns", PoolsModel.model_validate({"dns": {
        "service": {"address": VIP, "port": 53, "protocol": "udp", "scheduler": "rr"},
        "backend": {"type": "ipvs", "forward": "masq"},
        "servers": [{"name": "ns1", "address": ADDRESSES["rs1"], "weight": 1}]}}).pools["dns"])
    assert (await udp.reconcile()).changes == ["add ns1 weight 1"]
    assert re.search(rf"UDP\s+{re.escape(VIP)}:53 rr\s*\n\s+->\s+{re.escape(ADDRESSES['rs1'])}:53\s+Masq\s+1",
                     sh("ipvsadm -Ln"))
    bad = PoolController("bad", pools(service={"address": VIP, "port": 81, "scheduler": "nosuch"}).pools["web"])
    with pytest.raises(BackendError, match="ipvs"):
        await bad.reconcile()
