"""Drain a server and add a new one while a client keeps requests flowing through HAProxy: none fails."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import pytest
from faultmgr_pools.backend import Target
from faultmgr_pools.model import PoolsModel
from faultmgr_pools.nodes import PoolDirectory, UnknownServer, add_server, drain_server


class Client:
    """Sends requests back to back (a few in parallel) and records every answer and every failure."""

    def __init__(self, port: int, parallel: int = 4) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.parallel = parallel
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _loop(self, session: aiohttp.ClientSession) -> None:
        while not self._stop.is_set():
            try:
                async with session.get(self.url) as resp:
                    text = await resp.text()
                    if resp.status != 200:
                        self.failures.append(f"HTTP {resp.status}: {text[:80]}")
                    else:
                        self.answers[text] += 1
            except aiohttp.ClientError as exc:
                self.failures.append(repr(exc))

    async def __aenter__(self) -> Client:
        self.session = aiohttp.ClientSession()
        self._tasks = [asyncio.create_task(self._loop(self.session)) for _ in range(self.parallel)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        await self.session.close()

    async def wait_for(self, name: str, count: int = 20) -> None:
        start = self.answers[name]
        for _ in range(500):
            if self.answers[name] - start >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{name} did not serve {count} requests: {dict(self.answers)}")


def pools_for(proxy: Any, servers: dict[str, int]) -> PoolsModel:
    return PoolsModel.model_validate({"web": {
        "backend": {"type": "haproxy", "socket": str(proxy.socket), "backend": "web"},
        "servers": [{"name": n, "address": "127.0.0.1", "port": p, "weight": 10} for n, p in servers.items()],
        "drain_timeout": "10s",
    }})


async def test_drain_and_add_under_load_lose_no_request(haproxy_factory: Any, real_servers: Any,
                                                        real_server_factory: Any, pick_port: Any) -> None:
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

    async with Client(proxy.port) as client:
        await client.wait_for("web1")
        await client.wait_for("web2")

        # Long requests in flight on both servers: the drain must wait for web1's to finish.
        slow_session = aiohttp.ClientSession()
        slow = [asyncio.create_task(slow_session.get(f"http://127.0.0.1:{proxy.port}/slow?s=1"))
                for _ in range(6)]
        for _ in range(200):
            if (await controller.backend.find(Target("web1", "127.0.0.1", ports["web1"]))).active:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.01)
        drained = await drain_server(controller, "web1", timeout=10)
        assert drained.drained, drained
        slow_answers = []
        for request in slow:
            response = await request
            assert response.status == 200
            slow_answers.append(await response.text())
        await slow_session.close()
        assert "web1" in slow_answers, "no long request landed on web1: the drain had nothing to wait for"
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
