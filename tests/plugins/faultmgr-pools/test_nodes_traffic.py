"""Drain a server and add a new one while a client keeps requests flowing through HAProxy: none fails."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from faultmgr_pools.backend import Target
from faultmgr_pools.model import PoolsModel
from faultmgr_pools.nodes import PoolDirectory, UnknownServer, add_server, drain_server


def pools_for(proxy: Any, servers: dict[str, int]) -> PoolsModel:
    return PoolsModel.model_validate({"web": {
        "backend": {"type": "haproxy", "socket": str(proxy.socket), "backend": "web"},
        "servers": [{"name": n, "address": "127.0.0.1", "port": p, "weight": 10} for n, p in servers.items()],
        "drain_timeout": "10s",
    }})


async def test_drain_and_add_under_load_lose_no_request(haproxy_factory: Any, real_servers: Any,
                                                        real_server_factory: Any, pick_port: Any,
                                                        traffic_client: Any) -> None:
    ports = {n: s.port for n, s in real_servers.items() if n != "web3"}
    proxy = haproxy_factory(ports)
    directory = PoolDirectory(pools_for(proxy, ports))
    controller = directory.controller("web")
    assert (await controller.reconcile()).changes == []

    # The newcomer's process is not up yet: add_server must wait for it.
    newcomer = real_server_factory("web4")
    port4 = pick_port()
    checks: list[bool] = []

    async def healthy(target: Target) -> bool:
        try:
            async with aiohttp.ClientSession() as session, session.get(
                    f"http://{target.address}:{target.port}/", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                checks.append(resp.status == 200)
        except (TimeoutError, aiohttp.ClientError):
            checks.append(False)
        return checks[-1]

    async with traffic_client(proxy.port) as client:
        await client.wait_for("web1")
        await client.wait_for("web2")

        # Long requests in flight on both servers: the drain must wait for web1's to finish.
        await client.hold(controller.backend, Target("web1", "127.0.0.1", ports["web1"]))
        drained = await drain_server(controller, "web1", timeout=10)
        assert drained.drained, drained
        assert "web1" in await client.held(), "no long request landed on web1: the drain had nothing to wait for"
        assert "remove web1" in drained.report.changes
        assert "web1" not in {s.name for s in await controller.live()}
        served_by_web1 = client.answers["web1"]
        await client.wait_for("web2")
        assert client.answers["web1"] == served_by_web1, "a drained server got new requests"

        adding = asyncio.create_task(add_server(controller, "web4", address="127.0.0.1", port=port4, weight=10,
                                                check=healthy, rise=2, interval=0.1, timeout=20))
        await asyncio.sleep(0.5)
        assert not adding.done(), "added before the server was healthy"
        await newcomer.start(port4)
        report = await adding
        assert report is not None and "add web4 weight 10" in report.changes
        await client.wait_for("web4")
        await client.wait_for("web2")

    assert client.failures == []
    assert checks.count(False) >= 1 and checks[-2:] == [True, True]
    # The result is an override: a fresh controller on the same store (a restart) keeps it.
    again = await PoolDirectory(directory.pools, directory.store).controller("web").reconcile()
    assert again.changes == []


async def test_add_gives_up_on_an_unhealthy_server(haproxy_factory: Any, real_servers: Any, pick_port: Any) -> None:
    ports = {"web1": real_servers["web1"].port}
    proxy = haproxy_factory(ports)
    controller = PoolDirectory(pools_for(proxy, ports)).controller("web")
    report = await add_server(controller, "web9", address="127.0.0.1", port=pick_port(), rise=1,
                              interval=0.05, timeout=0.3)
    assert report is None
    assert {s.name for s in await controller.live()} == {"web1"}
    with pytest.raises(UnknownServer):
        await add_server(controller, "nobody")
    with pytest.raises(UnknownServer):
        await drain_server(controller, "nobody")
