"""Real parts for the pool tests: HTTP real servers on loopback, an HAProxy started per test, and a client
that keeps requests flowing through it."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from daemon_lab import FAULTMGR
from faultmgr_pools.backend import Backend, Target
from haproxy_lab import HAProxy, stop_process
from loopback import free_port
from prereq import need, need_program

from faultmgr.control import ControlError, request


@dataclass
class RealServerProcess:
    """An aiohttp server answering ``GET /`` with its name (``GET /slow`` sleeps first)."""

    name: str
    port: int = 0
    served: int = 0
    runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> RealServerProcess:
        app = web.Application()
        app.router.add_get("/", self._hello)
        app.router.add_get("/slow", self._slow)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port or free_port())
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def _hello(self, request: web.Request) -> web.Response:
        self.served += 1
        return web.Response(text=self.name)

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "1")))
        self.served += 1
        return web.Response(text=self.name)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class Client:
    """Sends requests back to back (a few in parallel) and records every answer and every failure."""

    def __init__(self, port: int, parallel: int = 4) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.parallel = parallel
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._held: list[asyncio.Task[aiohttp.ClientResponse]] = []

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

    async def hold(self, backend: Backend, target: Target, count: int = 6, seconds: float = 1.0) -> None:
        """Open ``count`` requests of ``seconds`` each and wait until ``target`` holds one of them, so that
        a drain of ``target`` has connections to wait for."""
        self._held = [asyncio.create_task(self.session.get(f"{self.url}slow?s={seconds}")) for _ in range(count)]
        for _ in range(200):
            state = await backend.find(target)
            if state is not None and state.active:
                return
            await asyncio.sleep(0.01)

    async def held(self) -> list[str]:
        """The names of the servers that answered the held requests (every one must have succeeded)."""
        answers = []
        for pending in self._held:
            async with await pending as response:
                assert response.status == 200, await response.text()
                answers.append(await response.text())
        return answers


@pytest.fixture
async def real_servers() -> AsyncIterator[dict[str, RealServerProcess]]:
    """Three HTTP real servers: web1, web2, web3."""
    servers = {name: await RealServerProcess(name).start() for name in ("web1", "web2", "web3")}
    yield servers
    for server in servers.values():
        await server.stop()


@pytest.fixture
def pick_port() -> Callable[[], int]:
    """A free loopback TCP port (for a server to be started later)."""
    return free_port


@pytest.fixture
async def real_server_factory() -> AsyncIterator[Callable[[str], RealServerProcess]]:
    """``make(name)`` -> a :class:`RealServerProcess` not started yet (``await it.start(port)``), stopped
    at the end of the test."""
    made: list[RealServerProcess] = []

    def make(name: str) -> RealServerProcess:
        made.append(RealServerProcess(name))
        return made[-1]

    yield make
    for server in made:
        await server.stop()


@pytest.fixture
def haproxy_factory(tmp_path: Path) -> Iterator[object]:
    """``start(servers={"web1": port, ...})`` -> a running :class:`HAProxy` whose backend ``web`` holds them."""
    need_program("haproxy")
    started: list[HAProxy] = []

    def start(servers: dict[str, int], extra: str = "") -> HAProxy:
        proxy = HAProxy.write(tmp_path, free_port(), dict(servers), extra=extra, name=f"haproxy{len(started)}")
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def traffic_client() -> type[Client]:
    """``async with traffic_client(port) as client``: requests flow through HAProxy until the block ends."""
    return Client


@dataclass
class DaemonRun:
    """A ``faultmgr run`` subprocess and its log."""

    proc: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
async def faultmgr_daemon() -> AsyncIterator[Callable[..., Awaitable[DaemonRun]]]:
    """``await start(config, state_dir, *options)`` -> a :class:`DaemonRun` (``faultmgr run -c config
    *options``) answering on its control socket; stopped at the end of the test, whose daemon log must then
    hold no traceback."""
    need(Path(FAULTMGR).exists(), f"needs the faultmgr command ({FAULTMGR})")
    runs: list[DaemonRun] = []

    async def start(config: Path, state: Path, *options: str) -> DaemonRun:
        log = config.with_suffix(".log")
        with log.open("ab") as out:
            run = DaemonRun(subprocess.Popen([FAULTMGR, "run", "-c", str(config), *options], stdout=out,
                                             stderr=subprocess.STDOUT), log)
        runs.append(run)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert run.proc.poll() is None, log.read_text()
            try:
                await asyncio.to_thread(request, state / "control.sock", "status", timeout=2)
                return run
            except (ControlError, OSError):
                await asyncio.sleep(0.05)
        raise AssertionError(f"the daemon did not start:\n{log.read_text()}")

    yield start
    for run in runs:
        stop_process(run.proc, 15)
        assert "Traceback" not in run.log.read_text(), run.log.read_text()
