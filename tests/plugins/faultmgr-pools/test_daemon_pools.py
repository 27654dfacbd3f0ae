"""End to end: ``faultmgr run`` with a ``pools:`` section and a ``pool.quiesce`` rule, driving a real HAProxy.

Events come in through the control socket (as a probe detector's would); the test watches HAProxy itself.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from faultmgr_pools.haproxy import HaproxyPoolBackend
from faultmgr_pools.model import HaproxyBackend

from faultmgr.control import request

CONFIG = """\
daemon:
  state_dir: {state}
  tick: 50ms
  shutdown_timeout: 1s
detectors:
  probes:
    type: external
pools:
  web:
    backend: {{type: haproxy, socket: {socket}, backend: web}}
    servers:
      - {{name: web1, address: 127.0.0.1, port: {web1}, weight: 10}}
      - {{name: web2, address: 127.0.0.1, port: {web2}, weight: {web2_weight}}}
    sorry: {{name: sorry, address: 127.0.0.1, port: {web3}, weight: 1}}
actions:
  take-out:
    type: pool.quiesce
    pool: web
rules:
  web-probe:
    match: {{kind: probe.failed, source: probes}}
    actions: [take-out]
"""


async def until(check: Any, what: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen; daemon log:\n{log.read_text()}")
        await asyncio.sleep(0.05)


async def test_probe_alert_quiesces_recovery_restores_reload_reconciles(
        haproxy_factory: Any, real_servers: Any, faultmgr_daemon: Any, tmp_path: Path) -> None:
    ports = {n: s.port for n, s in real_servers.items()}
    proxy = haproxy_factory({"web1": ports["web1"], "web2": ports["web2"]})
    backend = HaproxyPoolBackend(HaproxyBackend(type="haproxy", socket=proxy.socket, backend="web"))
    state, config = tmp_path / "state", tmp_path / "faultmgr.yaml"
    values = dict(state=state, socket=proxy.socket, web2_weight=10, **ports)
    config.write_text(CONFIG.format(**values))

    async def weights() -> dict[str, int]:
        return {s.name: s.weight for s in await backend.servers()}

    async def inject(kind: str, severity: str) -> None:
        event = {"kind": kind, "subject": "web1", "source": "probes", "severity": severity}
        await asyncio.to_thread(request, state / "control.sock", "inject", timeout=5, event=event)

    run = await faultmgr_daemon(config, state)
    # Start-up reconciliation put the declared sorry server in, at weight 0.
    await until(lambda: _equals(weights, {"web1": 10, "web2": 10, "sorry": 0}), "start-up reconcile", run.log)

    await inject("probe.failed", "critical")
    await until(lambda: _equals(weights, {"web1": 0, "web2": 10, "sorry": 0}), "quiesce of web1", run.log)

    await inject("probe.ok", "ok")
    await until(lambda: _equals(weights, {"web1": 10, "web2": 10, "sorry": 0}), "restore of web1", run.log)

    config.write_text(CONFIG.format(**{**values, "web2_weight": 20}))
    run.proc.send_signal(signal.SIGHUP)
    await until(lambda: _equals(weights, {"web1": 10, "web2": 20, "sorry": 0}), "reload reconcile", run.log)


async def _equals(read: Any, expected: dict[str, int]) -> bool:
    return bool(await read() == expected)


pytestmark = pytest.mark.slow
