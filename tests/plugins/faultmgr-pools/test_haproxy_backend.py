"""The HAProxy backend against a real haproxy 2.6 and real HTTP servers."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from faultmgr_pools.backend import BackendError, Target
from faultmgr_pools.controller import PoolController
from faultmgr_pools.haproxy import HaproxyPoolBackend
from faultmgr_pools.model import Pool


def pool_for(proxy: Any, servers: dict[str, int], **kw: Any) -> Pool:
    return Pool.model_validate({
        "backend": {"type": "haproxy", "socket": str(proxy.socket), "backend": "web"},
        "servers": [{"name": n, "address": "127.0.0.1", "port": p, "weight": 10} for n, p in servers.items()],
        **kw,
    })


async def answers(port: int, count: int) -> list[str]:
    async with aiohttp.ClientSession() as session:
        out = []
        for _ in range(count):
            async with session.get(f"http://127.0.0.1:{port}/") as resp:
                assert resp.status == 200
                out.append(await resp.text())
        return out


async def test_reads_weights_states_and_sessions(haproxy_factory: Any, real_servers: Any) -> None:
    proxy = haproxy_factory({"web1": real_servers["web1"].port, "web2": real_servers["web2"].port})
    backend = HaproxyPoolBackend(pool_for(proxy, {}).backend)  # type: ignore[arg-type]
    states = {s.name: s for s in await backend.servers()}
    assert set(states) == {"web1", "web2"}
    assert states["web1"].weight == 10 and states["web1"].state == "ready"
    assert states["web1"].port == real_servers["web1"].port

    async with aiohttp.ClientSession() as session:
        slow = asyncio.create_task(session.get(f"http://127.0.0.1:{proxy.port}/slow?s=1.5"))
        for _ in range(50):
            await asyncio.sleep(0.05)
            if sum(s.active for s in await backend.servers()) == 1:
                break
        assert sum(s.active for s in await backend.servers()) == 1
        (await slow).release()


async def test_weight_quiesce_state_add_remove(haproxy_factory: Any, real_servers: Any) -> None:
    ports = {n: s.port for n, s in real_servers.items()}
    proxy = haproxy_factory({"web1": ports["web1"], "web2": ports["web2"]})
    backend = HaproxyPoolBackend(pool_for(proxy, {}).backend)  # type: ignore[arg-type]
    web1, web2 = Target("web1", "127.0.0.1", ports["web1"]), Target("web2", "127.0.0.1", ports["web2"])
    web3 = Target("web3", "127.0.0.1", ports["web3"])

    await backend.set_weight(web1, 3)
    assert (await backend.find(web1)).weight == 3  # type: ignore[union-attr]

    await backend.quiesce(web2)
    assert set(await answers(proxy.port, 6)) == {"web1"}

    await backend.add(web3, 5)
    state = await backend.find(web3)
    assert state is not None and state.weight == 5 and state.state == "ready"
    assert set(await answers(proxy.port, 12)) == {"web1", "web3"}

    await backend.remove(web1)
    assert await backend.find(web1) is None
    assert set(await answers(proxy.port, 6)) == {"web3"}

    await backend.set_state(web3, "drain")
    assert (await backend.find(web3)).state == "drain"  # type: ignore[union-attr]
    await backend.set_weight(web3, 5)  # a weight change also brings it back to ready
    assert (await backend.find(web3)).state == "ready"  # type: ignore[union-attr]


async def test_refusals_are_backend_errors(haproxy_factory: Any, real_servers: Any, tmp_path: Any) -> None:
    proxy = haproxy_factory({"web1": real_servers["web1"].port})
    backend = HaproxyPoolBackend(pool_for(proxy, {}).backend)  # type: ignore[arg-type]
    with pytest.raises(BackendError, match="web9"):
        await backend.set_weight(Target("web9", "127.0.0.1", 1), 1)
    wrong = Pool.model_validate({"backend": {"type": "haproxy", "socket": str(proxy.socket), "backend": "nope"},
                                 "servers": []})
    with pytest.raises(BackendError, match="nope"):
        await HaproxyPoolBackend(wrong.backend).servers()  # type: ignore[arg-type]
    gone = Pool.model_validate({"backend": {"type": "haproxy", "socket": str(tmp_path / "missing.sock"),
                                            "backend": "web"}, "servers": []})
    with pytest.raises(BackendError, match="missing.sock"):
        await HaproxyPoolBackend(gone.backend).servers()  # type: ignore[arg-type]


async def test_reconciliation_leaves_right_servers_and_their_sessions_alone(
        haproxy_factory: Any, real_servers: Any) -> None:
    ports = {n: s.port for n, s in real_servers.items()}
    # HAProxy's config has web1 (right), web2 (wrong weight) and an undeclared "old" one; web3 is missing.
    proxy = haproxy_factory({"web1": ports["web1"], "web2": ports["web2"], "old": ports["web3"]})
    pool = pool_for(proxy, ports)
    pool = pool.model_copy(update={"backend": pool.backend.model_copy(update={"prune": True}),
                                   "servers": [s.model_copy(update={"weight": 7 if s.name == "web2" else 10})
                                               for s in pool.servers]})
    controller = PoolController("web", pool)
    backend = controller.backend

    async with aiohttp.ClientSession() as session:
        # Pin a slow request on web1: only web1 serves while the request starts.
        await backend.quiesce(Target("web2", "127.0.0.1", ports["web2"]))
        await backend.quiesce(Target("old", "127.0.0.1", ports["web3"]))
        slow = asyncio.create_task(session.get(f"http://127.0.0.1:{proxy.port}/slow?s=3"))
        web1 = Target("web1", "127.0.0.1", ports["web1"])
        for _ in range(500):
            await asyncio.sleep(0.02)
            if (await backend.find(web1)).active == 1:  # type: ignore[union-attr]
                break
        assert (await backend.find(web1)).active == 1, "the long request never reached web1"  # type: ignore[union-attr]

        report = await controller.reconcile()

        assert sorted(report.changes) == ["add web3 weight 10", "remove old", "weight web2 weight 7"]
        assert report.errors == []
        states = {s.name: s for s in await backend.servers()}
        assert {n: s.weight for n, s in states.items()} == {"web1": 10, "web2": 7, "web3": 10}
        assert states["web1"].active == 1, "web1's session must survive reconciliation"
        response = await slow
        assert response.status == 200 and await response.text() == "web1"
        response.release()

    again = await controller.reconcile()
    assert again.changes == [] and again.serving == 3
