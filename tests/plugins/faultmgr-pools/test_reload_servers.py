"""Real servers removed from or added to the rule file, then ``faultmgr run`` reloaded (SIGHUP), on a real
HAProxy: the removed one is drained (weight 0, its open requests finish) before it is removed; the new one
enters only once its probe has passed ``rise`` times."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_lab import FAULTMGR
from faultmgr_pools.backend import ServerState, Target
from faultmgr_pools.haproxy import HaproxyPoolBackend
from faultmgr_pools.model import HaproxyBackend, PoolsModel
from faultmgr_pools.nodes import PoolDirectory
from faultmgr_pools.rulefile import Transitions

from faultmgr.store import KeyValueStore

CONFIG = """\
daemon:
  state_dir: {state}
  tick: 50ms
  shutdown_timeout: 1s
detectors:
  probes:
    type: probe
    checkinterval: 200ms
    checktimeout: 1s
    rise: 2
    targets:
      # web3's health is checked on a port of its own: TCP to web3's serving port passes from the start,
      # its probe only once the health server runs. It must be the probe that lets web3 in.
      - {{name: web3, type: http, host: 127.0.0.1, port: {health}, path: /}}
pools:
  web:
    backend: {{type: haproxy, socket: {socket}, backend: web}}
    drain_timeout: 30s
    servers:
{servers}
"""
SERVER = "      - {{name: {name}, address: 127.0.0.1, port: {port}, weight: {weight}}}"
#: HAProxy starts every server at weight 10; web2's 20 shows that the start-up reconciliation has run.
WEIGHTS = {"web1": 10, "web2": 20, "web3": 10}


async def faultmgr(*args: str) -> tuple[int, str, str]:
    """The ``faultmgr`` command, run without blocking the event loop (the traffic client runs on it)."""
    proc = await asyncio.create_subprocess_exec(FAULTMGR, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def config_text(lab: dict[str, Any], names: list[str]) -> str:
    servers = "\n".join(SERVER.format(name=n, port=lab["ports"][n], weight=WEIGHTS[n]) for n in names)
    return CONFIG.format(state=lab["state"], socket=lab["socket"], health=lab["health"], servers=servers)


async def until(check: Any, what: str, log: Path, timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something true; its value is returned."""
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen; daemon log:\n{log.read_text()}")
        await asyncio.sleep(0.05)
    return value


async def test_reload_drains_a_removed_server_and_admits_a_new_one_after_its_probe(
        haproxy_factory: Any, real_servers: Any, real_server_factory: Any, pick_port: Any, faultmgr_daemon: Any,
        traffic_client: Any, tmp_path: Path) -> None:
    ports = {n: s.port for n, s in real_servers.items()}
    proxy = haproxy_factory({"web1": ports["web1"], "web2": ports["web2"]})
    backend = HaproxyPoolBackend(HaproxyBackend(type="haproxy", socket=proxy.socket, backend="web"))
    state, config = tmp_path / "state", tmp_path / "faultmgr.yaml"
    lab = {"state": state, "socket": proxy.socket, "health": pick_port(), "ports": ports}
    config.write_text(config_text(lab, ["web1", "web2"]))
    run = await faultmgr_daemon(config, state)
    web1, web3 = (Target(n, "127.0.0.1", ports[n]) for n in ("web1", "web3"))

    async def table() -> dict[str, ServerState]:
        return {s.name: s for s in await backend.servers()}

    async def reconciled() -> bool:
        return {n: s.weight for n, s in (await table()).items()} == {"web1": 10, "web2": 20}

    # Only a reconciled pool has a record of its servers to compare the edited file with.
    await until(reconciled, "start-up reconcile", run.log)

    async with traffic_client(proxy.port) as client:
        await client.wait_for("web1")
        # Long requests in flight on web1: the drain must wait for them, not cut them.
        await client.hold(backend, web1, count=6, seconds=6)
        assert (await table())["web1"].active > 0, "no long request landed on web1"

        config.write_text(config_text(lab, ["web2", "web3"]))
        run.proc.send_signal(signal.SIGHUP)

        async def draining() -> ServerState | None:
            state = (await table()).get("web1")
            return state if state is not None and state.weight == 0 else None

        drained = await until(draining, "quiesce of web1", run.log)
        assert drained.active > 0, "web1 was quiesced only once its requests had ended: nothing was drained"
        assert "web3" not in await table(), "web3 entered before its probe passed"
        # The drain waits for the held requests, then removes web1; meanwhile web3's probe keeps failing.
        await until(lambda: _absent(table, "web1"), "removal of web1", run.log)
        assert "web1" in await client.held(), "a held request failed or none landed on web1"
        assert "web3" not in await table(), "web3 entered before its probe passed"
        code, out, _ = await faultmgr("pool", "list", "web", "-c", str(config), "--json")
        roles = {s["name"]: s["role"] for s in json.loads(out)["pools"][0]["servers"]}
        assert roles["web3"] == "joining" and "web1" not in roles, roles

        health = real_server_factory("web3-health")
        await health.start(lab["health"])
        joined = await until(lambda: _present(table, "web3"), "web3 joining after its probe passed", run.log)
        assert (joined.weight, joined.state, joined.port) == (10, "ready", web3.port)
        await client.wait_for("web3")
        served_by_web1 = client.answers["web1"]
        await client.wait_for("web2")
        assert client.answers["web1"] == served_by_web1, "the removed server still gets requests"

    assert client.failures == []
    code, out, err = await faultmgr("history", "--what", "control", "--json", "-c", str(config))
    assert code == 0, err
    rows = [(r["who"], r["action"], r["target"], r["detail"]) for r in json.loads(out)]
    drains = [r for r in rows if r[1:3] == ("pool.drain", "pool web/web1")]
    adds = [r for r in rows if r[1:3] == ("pool.add", "pool web/web3")]
    assert {r[0] for r in drains + adds} == {"rule file"}, rows
    assert any(r[3].startswith("drained=True ") and "remove web1" in r[3] for r in drains), drains
    assert any(r[3].startswith("passed probe probes/web3 (http) 2 time(s)") for r in adds), adds
    log = run.log.read_text()
    assert "web1 left the rule file" in log and "web3 is new in the rule file" in log, log


async def test_a_server_put_back_in_the_rule_file_during_its_drain_is_restored(
        haproxy_factory: Any, real_servers: Any, traffic_client: Any) -> None:
    """The plugin's reload sequence, step by step, on a real HAProxy: each reload makes a new directory that
    supersedes the last one, calls the drains in flight off, reconciles, and resumes what is marked."""
    ports = {n: s.port for n, s in real_servers.items()}
    proxy = haproxy_factory({"web1": ports["web1"], "web2": ports["web2"]})
    backend = HaproxyPoolBackend(HaproxyBackend(type="haproxy", socket=proxy.socket, backend="web"))
    store, transitions = KeyValueStore.memory(), Transitions()
    journal: list[tuple[str, str, str]] = []

    def record(action: str, controller: Any, server: str, detail: str) -> None:
        journal.append((action, server, detail))

    def no_probe(server: str) -> Any:
        raise AssertionError(f"{server}: nothing joins in this test")
    web1 = Target("web1", "127.0.0.1", ports["web1"])
    loaded: list[PoolDirectory] = []

    async def reload(names: list[str]) -> list[str]:
        directory = PoolDirectory(PoolsModel.model_validate({"web": {
            "backend": {"type": "haproxy", "socket": str(proxy.socket), "backend": "web"},
            "drain_timeout": "30s",
            "servers": [{"name": n, "address": "127.0.0.1", "port": ports[n], "weight": 10} for n in names]}}),
            store)
        transitions.stop()
        if loaded:
            loaded[-1].supersede(directory)
        loaded.append(directory)
        report = await directory.controller("web").reconcile()
        transitions.resume(directory, record, no_probe)
        return report.changes

    async def weight_of(name: str) -> int | None:
        state = await backend.find(Target(name, "127.0.0.1", ports[name]))
        return None if state is None else state.weight

    assert await reload(["web1", "web2"]) == []
    async with traffic_client(proxy.port) as client:
        await client.wait_for("web1")
        await client.hold(backend, web1, count=6, seconds=4)  # keeps web1's drain waiting
        assert await reload(["web2"]) == [], "web1 left the file: it keeps serving until its drain starts"
        assert set(transitions.tasks) == {("web", "web1")}
        deadline = time.monotonic() + 30
        while await weight_of("web1") != 0:
            assert time.monotonic() < deadline, "web1 was not quiesced"
            await asyncio.sleep(0.02)
        assert await reload(["web1", "web2"]) == ["weight web1 weight 10"]
        assert transitions.tasks == {}, "the drain of a server back in the file goes on"
        assert "web1" in await client.held()
        await asyncio.sleep(0.5)  # the called-off drain would have removed web1 by now
        assert await weight_of("web1") == 10 and loaded[-1].controller("web").overrides() == {}
        served = client.answers["web1"]
        await client.wait_for("web1")
        assert client.answers["web1"] > served
    assert client.failures == []
    # The drain's task was cancelled; had the cancellation come too late, its next change is called off.
    assert journal[0][:2] == ("pool.drain", "web1"), journal
    assert journal[0][2].startswith("started: removed from the rule file"), journal
    assert journal[1:] in ([], [("pool.drain", "web1", "called off")]), journal


async def _absent(read: Any, name: str) -> bool:
    return name not in await read()


async def _present(read: Any, name: str) -> ServerState | None:
    state: ServerState | None = (await read()).get(name)
    return state if state is not None and state.state == "ready" else None


pytestmark = pytest.mark.slow
