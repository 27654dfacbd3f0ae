"""Real parts for the pool tests: HTTP real servers on loopback and an HAProxy started per test."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from prereq import need_program


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass
class HAProxy:
    """A real haproxy in the foreground with an admin stats socket."""

    socket: Path
    port: int
    config: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=lambda: Path("/dev/null"))

    def start(self) -> None:
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)], stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                if self.socket.exists():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"haproxy did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def haproxy_config(sock: Path, port: int, servers: dict[str, int], extra: str = "") -> str:
    lines = [
        "global",
        f"  stats socket {sock} mode 600 level admin",
        "defaults",
        "  mode http",
        "  timeout connect 1s",
        "  timeout client 10s",
        "  timeout server 10s",
        "frontend fe",
        f"  bind 127.0.0.1:{port}",
        "  default_backend web",
        "backend web",
        "  balance roundrobin",
        *[f"  server {name} 127.0.0.1:{p} weight 10" for name, p in servers.items()],
        extra,
    ]
    return "\n".join(lines) + "\n"


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
        sock, port = tmp_path / f"admin{len(started)}.sock", free_port()
        config = tmp_path / f"haproxy{len(started)}.cfg"
        config.write_text(haproxy_config(sock, port, servers, extra))
        proxy = HAProxy(sock, port, config, log=tmp_path / f"haproxy{len(started)}.log")
        proxy.start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
