"""The daemon's periodic work runs on its event loop. APScheduler's asyncio scheduler runs a plain function in a
worker thread: the engine's tick ran there, beside the ingest of events on the loop, and the systemd watchdog
ping kept coming from that thread while the loop itself was stuck."""

from __future__ import annotations

import asyncio
import inspect
import threading
from pathlib import Path

import pytest

from faultmgr.config.build import load
from faultmgr.daemon import Daemon
from faultmgr.engine.engine import Engine
from faultmgr.plugin.manager import load_plugins


async def test_every_scheduled_job_runs_on_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    original = Engine.tick

    def recorded(self: Engine) -> None:
        threads.append(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(Engine, "tick", recorded)
    rules = tmp_path / "r.yaml"
    rules.write_text(f"daemon: {{state_dir: {tmp_path}/state, tick: 50ms}}\nreceivers: {{o: {{type: log}}}}\n")
    plugins = load_plugins()
    daemon = Daemon([str(rules)], plugins, load([rules], plugins))
    running = asyncio.create_task(daemon.run())
    for _ in range(400):
        await asyncio.sleep(0.05)
        if len(threads) >= 3:
            break
    jobs = daemon.scheduler.get_jobs()
    daemon.stopping.set()
    assert await asyncio.wait_for(running, 30) == 0
    assert {j.id for j in jobs} >= {"engine-tick", "journal-flush", "retention", "journal-size"}
    assert all(inspect.iscoroutinefunction(j.func) for j in jobs), [j.id for j in jobs]
    assert len(threads) >= 3 and set(threads) == {threading.current_thread().name}, threads
