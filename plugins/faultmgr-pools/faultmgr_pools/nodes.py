"""Adding and removing real servers while traffic flows (``faultmgr pool drain`` / ``faultmgr pool add``).

Drain: weight 0 (no new connections), wait until the server's active connections reach zero or the timeout
passes, then remove it. Add: wait until a health check has passed ``rise`` times in a row, then put the
server in the pool. Both go through the pool's overrides, so a restart or reload keeps the result.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from faultmgr.store import KeyValueStore
from faultmgr_pools.backend import Target
from faultmgr_pools.controller import PoolController, Report
from faultmgr_pools.model import PoolsModel

#: A health check: true when the target serves. May be a plain function or a coroutine function.
HealthCheck = Callable[[Target], "bool | Awaitable[bool]"]


class PoolError(Exception):
    """A pool operation that cannot be done as asked."""


class UnknownServer(PoolError):
    """The server is neither declared in the pool nor was it added with an address."""


class NotHealthy(PoolError):
    """A server to be added did not pass its health check in time."""


@dataclass
class DrainResult:
    """How a drain ended: ``drained`` is false when the timeout cut connections still open."""

    server: str
    drained: bool
    active_left: int
    waited: float
    report: Report


async def drain_server(controller: PoolController, server: str, timeout: float | None = None,
                       poll: float = 0.2, mark: dict[str, Any] | None = None) -> DrainResult:
    """Quiesce ``server``, wait for its active connections to end (at most ``timeout``, default the pool's
    ``drain_timeout``), then remove it from the pool. ``mark`` is kept in both overrides written on the way
    (a reload's drain of a server gone from the rule file marks them ``retiring``), and they are written
    only while the server's override still carries it (else :class:`~faultmgr_pools.controller.CalledOff`)."""
    target = controller.target(server)
    if target is None:
        raise UnknownServer(f"pool {controller.name} has no server {server!r}")
    address: dict[str, Any] = {} if controller.pool.server(server) else {"address": target.address,
                                                                        "port": target.port}
    address.update(mark or {})
    await controller.override(server, {"weight": 0, **address}, expect=mark)
    limit = controller.pool.drain_timeout if timeout is None else timeout
    started = time.monotonic()
    active = await _active(controller, target)
    while active > 0 and time.monotonic() - started < limit:
        await asyncio.sleep(poll)
        active = await _active(controller, target)
    waited = time.monotonic() - started
    report = await controller.override(server, {"removed": True, **address}, expect=mark)
    return DrainResult(server, active == 0, active, waited, report)


async def _active(controller: PoolController, target: Target) -> int:
    state = await controller.backend.find(target)
    return 0 if state is None else state.active


async def tcp_check(target: Target, timeout: float = 1.0) -> bool:
    """The default health check: a TCP connection to the server opens within ``timeout``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(target.address, target.port), timeout)
    except (TimeoutError, OSError):
        return False
    writer.close()
    return True


async def add_server(controller: PoolController, server: str, *, weight: int | None = None,
                     address: str | None = None, port: int | None = None, check: HealthCheck | None = None,
                     rise: int = 1, interval: float = 0.5, timeout: float = 30.0) -> Report | None:
    """Put ``server`` in the pool once ``check`` has passed ``rise`` times in a row.

    The server is one the pool declares (a ``standby`` one, or one drained earlier), or a new one given by
    ``address`` (and ``port``, default the service's). Returns ``None`` when it did not become healthy
    within ``timeout`` (the pool is then unchanged).
    """
    target = _new_target(controller, server, address, port)
    if not await wait_healthy(target, check, rise, interval, timeout):
        return None
    value: dict[str, object] = {"weight": controller.declared_weight(server) if weight is None else weight}
    if controller.pool.server(server) is None:
        value.update(address=target.address, port=target.port)
    return await controller.override(server, value)


async def wait_healthy(target: Target, check: HealthCheck | None = None, rise: int = 1, interval: float = 0.5,
                       timeout: float = 30.0) -> bool:
    """True once ``check`` (default :func:`tcp_check`) has passed ``rise`` times in a row; false when that
    did not happen within ``timeout`` seconds."""
    passes, started = 0, time.monotonic()
    while True:
        result = (check or tcp_check)(target)
        healthy = await result if inspect.isawaitable(result) else result
        passes = passes + 1 if healthy else 0
        if passes >= rise:
            return True
        if time.monotonic() - started >= timeout:
            return False
        await asyncio.sleep(interval)


def _new_target(controller: PoolController, server: str, address: str | None, port: int | None) -> Target:
    if address is None:
        target = controller.target(server)
        if target is None:
            raise UnknownServer(f"pool {controller.name} declares no server {server!r}: give its address")
        return target
    if port is None:
        if controller.pool.service is None:
            raise UnknownServer(f"pool {controller.name} has no service port: give the server's port")
        port = controller.pool.service.port
    return Target(server, address, port)


class PoolDirectory:
    """One :class:`PoolController` per pool, shared by every action of a process and by the CLI."""

    def __init__(self, pools: PoolsModel, store: KeyValueStore | None = None,
                 emit: Callable[..., None] | None = None, now: Callable[[], float] = time.time,
                 dry_run: bool = False) -> None:
        self.pools = pools
        self.store = store if store is not None else KeyValueStore.memory()
        self.emit = emit
        self.now = now
        self.dry_run = dry_run
        self._controllers: dict[str, PoolController] = {}
        #: The directory of the config that replaced this one (set by the daemon's reload).
        self.successor: PoolDirectory | None = None

    def controller(self, name: str) -> PoolController:
        """The controller of pool ``name`` (``KeyError`` when the section does not declare it)."""
        if name not in self._controllers:
            pool = self.pools.pools[name]
            self._controllers[name] = PoolController(name, pool, store=self.store, emit=self.emit, now=self.now,
                                                     dry_run=self.dry_run)
            self._controllers[name].stale = self.successor is not None
        return self._controllers[name]

    def supersede(self, successor: PoolDirectory) -> None:
        """A reload put ``successor``'s config in force: this directory's controllers must no longer judge
        what the rule file added or removed (their rule file is the old one)."""
        self.successor = successor
        for controller in self._controllers.values():
            controller.stale = True

    def current(self) -> PoolDirectory:
        """The directory of the config in force: this one, or the last of its successors."""
        directory = self
        while directory.successor is not None:
            directory = directory.successor
        return directory

    async def reconcile_all(self) -> dict[str, Report]:
        """Reconcile every pool (start, reload)."""
        return {name: await self.controller(name).reconcile() for name in self.pools.pools}
