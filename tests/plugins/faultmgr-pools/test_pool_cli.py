"""``faultmgr pool ...`` as an operator runs it: a real daemon (``faultmgr run``) with a ``pools:`` section on a
real HAProxy; a client keeps requests flowing while a server is drained and a standby one added."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from daemon_lab import FAULTMGR
from faultmgr_pools.backend import Target
from faultmgr_pools.haproxy import HaproxyPoolBackend
from faultmgr_pools.model import HaproxyBackend
from prereq import need

from faultmgr.control import request

CONFIG = """\
daemon:
  state_dir: {state}
  tick: 50ms
  shutdown_timeout: 1s
detectors:
  probes:
    type: probe
    checkinterval: 200ms
    rise: 2
    targets:
      - {{name: web2, type: http, host: 127.0.0.1, port: {web2}, path: /}}
      - {{name: web3, type: http, host: 127.0.0.1, port: {web3}, path: /missing}}
pools:
  web:
    backend: {{type: haproxy, socket: {socket}, backend: web}}
    drain_timeout: 20s
    servers:
      - {{name: web1, address: 127.0.0.1, port: {web1}, weight: 10}}
      - {{name: web2, address: 127.0.0.1, port: {web2}, weight: 10}}
      - {{name: web3, address: 127.0.0.1, port: {web3}, weight: 10, standby: true}}
      - {{name: web4, address: 127.0.0.1, port: {web4}, weight: 1, standby: true}}
"""


async def faultmgr(*args: str) -> tuple[int, str, str]:
    """Run the ``faultmgr`` command without blocking the event loop (the traffic client runs on it)."""
    proc = await asyncio.create_subprocess_exec(FAULTMGR, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def lab(haproxy_factory: Any, real_servers: Any, real_server_factory: Any, pick_port: Any,
              faultmgr_daemon: Any, tmp_path: Path, request: pytest.FixtureRequest) -> SimpleNamespace:
    """A running daemon whose pool ``web`` is HAProxy's backend web1+web2, with web3 and web4 declared standby
    (web4's process not started yet: ``lab.web4.start(lab.port4)``); a probe detector watches web2 and web3
    (on a path where web3 answers 404). Indirect parameters are options of ``faultmgr run``."""
    ports = {n: s.port for n, s in real_servers.items()}
    proxy = haproxy_factory({n: p for n, p in ports.items() if n != "web3"})
    state, config = tmp_path / "state", tmp_path / "faultmgr.yaml"
    port4 = pick_port()
    config.write_text(CONFIG.format(state=state, socket=proxy.socket, web4=port4, **ports))
    await faultmgr_daemon(config, state, *getattr(request, "param", ()))
    backend = HaproxyBackend.model_validate({"type": "haproxy", "socket": proxy.socket, "backend": "web"})
    return SimpleNamespace(proxy=proxy, config=str(config), state=state, port4=port4, ports=ports,
                           web4=real_server_factory("web4"), backend=HaproxyPoolBackend(backend))


async def test_drain_and_add_from_the_command_line_lose_no_request(lab: Any, traffic_client: Any) -> None:
    code, out, err = await faultmgr("pool", "list", "-c", lab.config, "--json")
    assert code == 0, err
    servers = {s["name"]: s for s in json.loads(out)["pools"][0]["servers"]}
    assert servers["web1"]["weight"] == 10 and servers["web4"]["state"] == "absent"

    async with traffic_client(lab.proxy.port) as client:
        await client.wait_for("web1")
        await client.wait_for("web2")
        # Long requests in flight: the drain must wait for web1's to end, not cut them.
        web1 = Target("web1", "127.0.0.1", lab.ports["web1"])
        await client.hold(lab.backend, web1, seconds=3)
        draining = asyncio.create_task(faultmgr("pool", "drain", "web", "web1", "-c", lab.config, "--json"))
        for _ in range(500):
            state = await lab.backend.find(web1)
            if state is not None and state.weight == 0:
                break
            await asyncio.sleep(0.01)
        # While the drain waits for web1's connections, the control socket still answers other clients.
        status = await asyncio.to_thread(request, lab.state / "control.sock", "status", timeout=2)
        assert status["ok"] and not draining.done(), "the drain ended before another request was tried"
        code, out, err = await draining
        assert code == 0, err
        drained = json.loads(out)
        assert drained["drained"] is True and drained["waited"] > 0, drained
        assert "remove web1" in drained["report"]["changes"]
        answers = await client.held()
        assert "web1" in answers, "no long request landed on web1: the drain had nothing to wait for"
        assert await lab.backend.find(web1) is None
        served_by_web1 = client.answers["web1"]

        adding = asyncio.create_task(faultmgr("pool", "add", "web", "web4", "--weight", "10", "--rise", "2",
                                              "-c", lab.config))
        await asyncio.sleep(1.0)
        assert not adding.done(), "added before the server answered"
        await lab.web4.start(lab.port4)
        code, out, err = await adding
        assert code == 0, err
        assert out.startswith("web4 added to pool web at weight 10 after TCP check passed 2 time(s): "
                              "add web4 weight 10"), out
        await client.wait_for("web4")
        await client.wait_for("web2")
        assert client.answers["web1"] == served_by_web1, "the drained server got new requests"

    assert client.failures == []
    code, out, err = await faultmgr("history", "--what", "control", "--json", "-c", lab.config)
    assert code == 0, err
    rows = {r["action"]: r for r in json.loads(out)}
    assert rows["pool.drain"]["who"] == "root" and rows["pool.drain"]["target"] == "pool web/web1"
    assert rows["pool.add"]["who"] == "root" and rows["pool.add"]["detail"] == "weight=10 rise=2"


async def test_weight_and_readable_list(lab: Any) -> None:
    code, out, err = await faultmgr("pool", "weight", "web", "web2", "5", "-c", lab.config)
    assert code == 0, err
    assert out == "web2 of pool web now has weight 5: weight web2 weight 5 (2 serving, quorum 1)\n", out
    code, out, err = await faultmgr("pool", "list", "web", "-c", lab.config)
    assert code == 0, err
    assert out.splitlines()[0] == "pool web (haproxy, quorum 1): 2 serving"
    line = next(x for x in out.splitlines() if x.split()[0] == "web2")
    assert "weight 5/10" in line and 'override {"weight": 5}' in line, out
    code, out, err = await faultmgr("pool", "restore", "web", "web2", "-c", lab.config)
    assert code == 0, err
    assert out.startswith("web2 of pool web is back to the rule file: weight web2 weight 10"), out
    code, out, err = await faultmgr("pool", "restore", "web", "web2", "-c", lab.config)
    assert (code, err) == (1, "faultmgr: server 'web2' of pool web has no override\n"), (code, out, err)
    # Without --timeout the drain waits up to the pool's drain_timeout (asked of the daemon first).
    code, out, err = await faultmgr("pool", "drain", "web", "web1", "-c", lab.config)
    assert code == 0, err
    assert out.startswith("web1 drained from pool web after ") and out.endswith(": remove web1 (1 serving, "
                                                                                "quorum 1)\n"), out
    code, out, err = await faultmgr("pool", "add", "web", "web1", "-c", lab.config)
    assert code == 0, err
    assert out == ("web1 added to pool web at weight 10 after TCP check passed 1 time(s): add web1 weight 10 "
                   "(2 serving, quorum 1)\n"), out


async def test_add_waits_on_the_daemons_probe_of_the_server(lab: Any) -> None:
    # web3 accepts TCP connections, but its probe (GET /missing) fails: it must stay out.
    code, out, err = await faultmgr("pool", "add", "web", "web3", "--timeout", "1", "-c", lab.config)
    assert code == 1 and out == "", (out, err)
    assert err.startswith("faultmgr: web3 did not pass probe probes/web3 (http) 2 time(s) in a row within 1s "
                          "(last: "), err
    assert "404" in err and err.endswith("; pool web is unchanged\n"), err
    assert await lab.backend.find(Target("web3", "127.0.0.1", lab.ports["web3"])) is None
    code, out, err = await faultmgr("pool", "add", "web", "web2", "--json", "-c", lab.config)
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["check"], answer["rise"], answer["report"]["changes"]) == ("probe probes/web2 (http)", 2, [])


REFUSALS = [
    (["drain", "nope", "web1"], "faultmgr: no pool 'nope' (declared: web)\n"),
    (["weight", "web", "nobody", "3"], "faultmgr: pool web has no server 'nobody' (servers: web1, web2, web3, web4)\n"),
    (["add", "web", "nobody"], "faultmgr: pool web declares no server 'nobody': give its address\n"),
    (["weight", "web", "web1", "300"], "faultmgr: weight 300 is above haproxy's maximum 256\n"),
]


async def test_refusals_are_one_line_and_exit_1(lab: Any) -> None:
    for args, message in REFUSALS:
        code, out, err = await faultmgr("pool", *args, "-c", lab.config)
        assert (code, out, err) == (1, "", message), args


@pytest.mark.parametrize("lab", [("--dry-run",)], indirect=True)
async def test_dry_run_daemon_leaves_haproxy_alone_and_says_so(lab: Any) -> None:
    before = await lab.backend.servers()
    code, out, err = await faultmgr("pool", "drain", "web", "web1", "--timeout", "20", "-c", lab.config)
    assert code == 0, err
    assert out.startswith("dry run (the daemon runs with --dry-run; the load balancer is unchanged): web1 "
                          "drained from pool web after 0.0s: would remove web1"), out
    code, out, err = await faultmgr("pool", "weight", "web", "web2", "3", "--json", "-c", lab.config)
    assert code == 0, err
    assert json.loads(out)["dry_run"] is True
    assert await lab.backend.servers() == before


async def test_no_daemon_exits_2(tmp_path: Path) -> None:
    need(Path(FAULTMGR).exists(), f"needs the faultmgr command ({FAULTMGR})")
    config = tmp_path / "faultmgr.yaml"
    config.write_text(CONFIG.format(state=tmp_path / "state", socket=tmp_path / "admin.sock", web1=8001,
                                    web2=8002, web3=8003, web4=8004))
    for args in (["list"], ["drain", "web", "web1"], ["add", "web", "web4"], ["weight", "web", "web1", "3"]):
        code, out, err = await faultmgr("pool", *args, "-c", str(config))
        assert code == 2 and out == "", (args, out, err)
        assert err == f"faultmgr: no daemon is running (no control socket at {tmp_path / 'state'}/control.sock)\n"


pytestmark = pytest.mark.slow
