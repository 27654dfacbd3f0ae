"""The ``pool.*`` actions on a real HAProxy: alerts about probe targets move traffic, recoveries restore it."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from faultmgr_pools.actions import QuiesceAction, RemoveAction, ReweightAction
from faultmgr_pools.model import PoolsModel

from faultmgr.alert import AlertView
from faultmgr.event import Event
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore


def alert(subject: str) -> AlertView:
    return AlertView(id=7, fingerprint=f"fp-{subject}", rule="web-probe", subject=subject,
                     severity="critical", state="firing")


async def who_answers(port: int, count: int = 12) -> Counter[str]:
    async with aiohttp.ClientSession() as session:
        seen: Counter[str] = Counter()
        for _ in range(count):
            async with session.get(f"http://127.0.0.1:{port}/") as resp:
                assert resp.status == 200
                seen[await resp.text()] += 1
        return seen


@pytest.fixture
async def web_pool(haproxy_factory: Any, real_servers: Any) -> Any:
    """HAProxy knows web1 and web2; the rule file adds a sorry server (web3's process answers "web3")."""
    ports = {n: s.port for n, s in real_servers.items()}
    proxy = haproxy_factory({"web1": ports["web1"], "web2": ports["web2"]})
    model = PoolsModel.model_validate({"web": {
        "backend": {"type": "haproxy", "socket": str(proxy.socket), "backend": "web"},
        "quorum": 2,
        "servers": [{"name": n, "address": "127.0.0.1", "port": ports[n], "weight": 10} for n in ("web1", "web2")],
        "sorry": {"name": "sorry", "address": "127.0.0.1", "port": ports["web3"], "weight": 1},
        "drain_timeout": "5s",
    }})
    events: list[Event] = []
    runtime = Runtime(emit=events.append, store=KeyValueStore.memory(),
                      config=SimpleNamespace(sections={"pools": model}))  # type: ignore[arg-type]
    return SimpleNamespace(proxy=proxy, runtime=runtime, events=events)


async def test_quiesce_sorry_and_quorum(web_pool: Any) -> None:
    quiesce = QuiesceAction("web-down", QuiesceAction.Settings(pool="web"), web_pool.runtime)
    await quiesce.start()  # reconciliation adds the sorry server at weight 0
    assert set(await who_answers(web_pool.proxy.port)) == {"web1", "web2"}

    result = await quiesce.run(alert("web1"), None)
    assert result.ok and result.data["serving"] == 1 and not result.data["quorum_ok"]
    assert set(await who_answers(web_pool.proxy.port)) == {"web2"}
    assert [e.kind for e in web_pool.events] == ["pool.quorum.lost"]

    result = await quiesce.run(alert("web2"), None)
    assert result.data["sorry_active"] and "sorry server on" in result.detail
    assert set(await who_answers(web_pool.proxy.port)) == {"web3"}

    await quiesce.run(alert("web2"), None, resolved=True)
    await quiesce.run(alert("web1"), None, resolved=True)
    assert set(await who_answers(web_pool.proxy.port)) == {"web1", "web2"}
    assert [e.kind for e in web_pool.events] == ["pool.quorum.lost", "pool.quorum.ok"]
    assert web_pool.events[0].subject == "web" and web_pool.events[0].payload == {"serving": 1, "quorum": 2}


async def test_reweight_named_server_and_draining_remove(web_pool: Any) -> None:
    reweight = ReweightAction("heavy", ReweightAction.Settings(pool="web", server="web2", weight=30),
                              web_pool.runtime)
    remove = RemoveAction("out", RemoveAction.Settings(pool="web", drain=True), web_pool.runtime)
    await reweight.start()
    await remove.start()

    result = await reweight.run(alert("anything"), None)  # `server` wins over the alert's subject
    assert result.ok and result.data["changes"] == ["weight web2 weight 30"]
    seen = await who_answers(web_pool.proxy.port, 40)
    assert seen["web2"] > seen["web1"] > 0

    result = await remove.run(alert("web1"), None)
    assert result.ok and "remove web1" in result.detail
    assert set(await who_answers(web_pool.proxy.port)) == {"web2"}
    await remove.run(alert("web1"), None, resolved=True)
    await reweight.run(alert("anything"), None, resolved=True)
    seen = await who_answers(web_pool.proxy.port, 20)
    assert seen == Counter({"web1": 10, "web2": 10})


async def test_undeclared_pool_and_unreachable_socket(web_pool: Any, tmp_path: Any) -> None:
    stray = QuiesceAction("stray", QuiesceAction.Settings(pool="nope"), web_pool.runtime)
    assert "not declared" in stray.check()[0]
    with pytest.raises(ValueError, match="not declared"):
        await stray.start()

    broken = PoolsModel.model_validate({"web": {
        "backend": {"type": "haproxy", "socket": str(tmp_path / "gone.sock"), "backend": "web"},
        "servers": [{"name": "web1", "address": "127.0.0.1", "port": 1}]}})
    runtime = Runtime(emit=web_pool.events.append, config=SimpleNamespace(sections={"pools": broken}))  # type: ignore[arg-type]
    result = await QuiesceAction("q", QuiesceAction.Settings(pool="web"), runtime).run(alert("web1"), None)
    assert not result.ok and "gone.sock" in result.detail


async def test_dry_run_says_what_it_would_do_and_changes_nothing(web_pool: Any) -> None:
    runtime = web_pool.runtime
    runtime.dry_run = True
    quiesce = QuiesceAction("q", QuiesceAction.Settings(pool="web"), runtime)
    await quiesce.start()
    result = await quiesce.run(alert("web1"), None)
    assert result.ok and result.data["changes"] == ["would add sorry weight 0", "would weight web1 weight 0"]
    assert set(await who_answers(web_pool.proxy.port)) == {"web1", "web2"}
    assert runtime.store.items("faultmgr-pools.web") == {}
