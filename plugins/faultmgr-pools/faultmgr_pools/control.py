"""The daemon's side of ``faultmgr pool ...``: requests ``pool.list``, ``pool.drain``, ``pool.add`` and
``pool.weight`` on the local control socket.

They act through the same :class:`~faultmgr_pools.nodes.PoolDirectory` as the ``pool.*`` actions and the
start-up reconciliation, so an operator's change queues behind an alert's on the pool's lock and is kept as
an override (a restart or reload keeps it). Every change is journalled with the caller's user name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from faultmgr.runtime import Runtime
from faultmgr_pools.actions import directory_for
from faultmgr_pools.backend import BackendError, ServerState
from faultmgr_pools.controller import JOINING, RETIRING, PoolController, Report
from faultmgr_pools.health import health_check
from faultmgr_pools.model import MAX_WEIGHT, Pool
from faultmgr_pools.nodes import PoolDirectory, PoolError, add_server, drain_server

#: How long ``pool.add`` waits for the server to become healthy, unless the request says.
DEFAULT_CHECK_TIMEOUT_S = 30.0
#: How long ``pool.list`` waits for a load balancer's table before reporting it unreachable.
LIVE_TIMEOUT_S = 5.0

Handler = Callable[[Any, str, dict[str, Any]], Awaitable[dict[str, Any]]]


def directory_of(daemon: Any) -> PoolDirectory:
    """The pools directory of the daemon's config in force (shared with its actions)."""
    journal = getattr(daemon, "journal", None)
    return directory_for(Runtime(emit=daemon.emit, clock=daemon.clock, store=getattr(journal, "store", None),
                                 config=daemon.config, dry_run=bool(getattr(daemon, "dry_run", False))))


def _controller(daemon: Any, request: dict[str, Any]) -> tuple[PoolController, str]:
    """The controller of the request's pool, and the server named; clear errors when either is unknown."""
    pool, server = request.get("pool"), request.get("server")
    if not isinstance(pool, str) or not isinstance(server, str):
        raise ValueError("give 'pool' and 'server'")
    directory = directory_of(daemon)
    if pool not in directory.pools.pools:
        raise ValueError(f"no pool {pool!r} (declared: {', '.join(sorted(directory.pools.pools)) or 'none'})")
    return directory.controller(pool), server


def _known(controller: PoolController, server: str) -> None:
    if controller.target(server) is None:
        names = sorted(t.name for t in controller.known())
        raise ValueError(f"pool {controller.name} has no server {server!r} (servers: {', '.join(names)})")


def _journal(daemon: Any, who: str, action: str, controller: PoolController, server: str, detail: str) -> None:
    daemon.journal.record_control(who, action, f"pool {controller.name}/{server}", detail, daemon.clock.now())


def _int(request: dict[str, Any], key: str, default: int | None = None, least: int = 0) -> int | None:
    value = request.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{key!r} must be an integer of at least {least}")
    return value


def _seconds(request: dict[str, Any], key: str) -> float | None:
    value = request.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key!r} must be a number of seconds")
    return float(value)


def _check_weight(controller: PoolController, weight: int | None) -> None:
    limit = MAX_WEIGHT[controller.pool.backend.type]
    if weight is not None and weight > limit:
        raise ValueError(f"weight {weight} is above {controller.pool.backend.type}'s maximum {limit}")


async def pool_list(daemon: Any, who: str, request: dict[str, Any]) -> dict[str, Any]:
    """Every declared pool (or the one named ``pool``) with each server's declared and live state."""
    directory = directory_of(daemon)
    only = request.get("pool")
    if only is not None and only not in directory.pools.pools:
        raise ValueError(f"no pool {only!r} (declared: {', '.join(sorted(directory.pools.pools)) or 'none'})")
    names = [only] if isinstance(only, str) else list(directory.pools.pools)
    return {"ok": True, "pools": [await describe(directory.controller(name)) for name in names]}


async def describe(controller: PoolController) -> dict[str, Any]:
    """One pool as ``faultmgr pool list`` shows it: declared servers, overrides, the live table."""
    pool, overrides = controller.pool, controller.overrides()
    live: dict[str, ServerState] = {}
    error = None
    try:
        live = {s.name: s for s in await asyncio.wait_for(controller.live(), LIVE_TIMEOUT_S)}
    except (TimeoutError, BackendError, OSError) as exc:  # the backend being down is information here
        error = str(exc) or type(exc).__name__
    servers = [_server_row(controller, name, live.get(name), overrides.get(name))
               for name in dict.fromkeys([*(t.name for t in controller.known()),
                                          *([pool.sorry.name] if pool.sorry else []), *live])]
    return {"name": controller.name, "backend": pool.backend.type, "quorum": pool.quorum,
            "drain_timeout": pool.drain_timeout, "service": _service(pool), "live_error": error,
            "serving": None if error else sum(1 for s in servers if s["serving"] and s["role"] != "sorry"),
            "servers": servers}


def _service(pool: Pool) -> dict[str, Any] | None:
    service = pool.service
    if service is None:
        return None
    return {"address": service.address, "port": service.port, "protocol": service.protocol,
            "scheduler": service.scheduler}


def _server_row(controller: PoolController, name: str, state: ServerState | None,
                override: dict[str, Any] | None) -> dict[str, Any]:
    pool = controller.pool
    declared = pool.server(name)
    target = controller.target(name)
    if pool.sorry is not None and name == pool.sorry.name:
        role = "sorry"
    elif override and override.get(JOINING):
        role = "joining"  # new in the rule file, held out until its health check passes
    elif declared is not None:
        role = "standby" if declared.standby else "real"
    elif override and override.get(RETIRING):
        role = "retiring"  # gone from the rule file, being drained
    else:
        role = "added" if target is not None else "undeclared"  # undeclared: HAProxy's own servers
    address = target.address if target else state.address if state else None
    port = target.port if target else state.port if state else None
    return {"name": name, "role": role, "address": address, "port": port,
            "declared_weight": declared.weight if declared else None, "override": override,
            "weight": state.weight if state else None, "state": state.state if state else "absent",
            "active": state.active if state else 0, "serving": state.serving if state else False}


def _report(report: Report) -> dict[str, Any]:
    if report.errors:
        raise PoolError("; ".join(report.errors))
    return report.as_dict()


async def pool_drain(daemon: Any, who: str, request: dict[str, Any]) -> dict[str, Any]:
    """Quiesce, wait for the active connections to end (``drain_timeout``, default the pool's), then remove."""
    controller, server = _controller(daemon, request)
    _known(controller, server)
    timeout = _seconds(request, "drain_timeout")
    if controller.dry_run:
        timeout = 0.0  # nothing was quiesced: waiting for connections to end would only wait the timeout out
    result = await drain_server(controller, server, timeout)
    _journal(daemon, who, "pool.drain", controller, server,
             f"drained={result.drained} active_left={result.active_left} waited={result.waited:.1f}s")
    return {"ok": True, "pool": controller.name, "server": server, "drained": result.drained,
            "active_left": result.active_left, "waited": round(result.waited, 3),
            "report": _report(result.report)}


async def pool_add(daemon: Any, who: str, request: dict[str, Any]) -> dict[str, Any]:
    """Put a server (declared, typically ``standby``, or new with ``address``) in the pool once its health
    check (the daemon's probe of it, else TCP) has passed ``rise`` times in a row."""
    controller, server = _controller(daemon, request)
    weight, rise = _int(request, "weight"), _int(request, "rise", least=1)
    wait = _seconds(request, "check_timeout")
    wait = DEFAULT_CHECK_TIMEOUT_S if wait is None else wait
    _check_weight(controller, weight)
    address, port = request.get("address"), _int(request, "port", least=1)
    if address is not None and not isinstance(address, str):
        raise ValueError("'address' must be a string")
    check = health_check(daemon, server, rise)
    report = await add_server(controller, server, weight=weight, address=address, port=port, check=check,
                              rise=check.rise, interval=check.interval, timeout=wait)
    if report is None:
        raise PoolError(f"{server} did not pass {check.what} {check.rise} time(s) in a row within {wait:g}s "
                        f"(last: {check.last_reason}); pool {controller.name} is unchanged")
    weight = weight if weight is not None else controller.declared_weight(server)
    _journal(daemon, who, "pool.add", controller, server, f"weight={weight} rise={check.rise}")
    return {"ok": True, "pool": controller.name, "server": server, "weight": weight, "check": check.what,
            "rise": check.rise, "report": _report(report)}


async def pool_weight(daemon: Any, who: str, request: dict[str, Any]) -> dict[str, Any]:
    """Set a server's weight (0 quiesces it), kept as an override until changed again."""
    controller, server = _controller(daemon, request)
    _known(controller, server)
    weight = _int(request, "weight")
    if weight is None:
        raise ValueError("give 'weight'")
    _check_weight(controller, weight)
    report = await controller.override(server, {"weight": weight})
    _journal(daemon, who, "pool.weight", controller, server, f"weight={weight}")
    return {"ok": True, "pool": controller.name, "server": server, "weight": weight, "report": _report(report)}


async def pool_restore(daemon: Any, who: str, request: dict[str, Any]) -> dict[str, Any]:
    """Drop a server's override (a drain, an add, a weight set by hand): the rule file's declaration holds
    again."""
    controller, server = _controller(daemon, request)
    _known(controller, server)
    if server not in controller.overrides():
        raise ValueError(f"server {server!r} of pool {controller.name} has no override")
    report = await controller.override(server, None)
    _journal(daemon, who, "pool.restore", controller, server, "back to the rule file")
    return {"ok": True, "pool": controller.name, "server": server, "report": _report(report)}


def _answering(handler: Handler) -> Handler:
    """The control server answers only ValueError/KeyError/TypeError; a refused pool change or an
    unreachable load balancer must reach the operator as one line too. Answers say whether the daemon
    runs with ``--dry-run``."""

    async def wrapped(daemon: Any, who: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = await handler(daemon, who, request)
        except (PoolError, BackendError, OSError) as exc:
            return {"ok": False, "error": str(exc) or type(exc).__name__}
        # Under `faultmgr run --dry-run` the load balancer was left alone: the caller must know.
        return {**answer, "dry_run": bool(getattr(daemon, "dry_run", False))}

    wrapped.__doc__ = handler.__doc__
    return wrapped


#: Request name -> handler, as ``faultmgr_control_commands`` installs them.
COMMANDS: dict[str, Handler] = {
    "pool.list": _answering(pool_list),
    "pool.drain": _answering(pool_drain),
    "pool.add": _answering(pool_add),
    "pool.weight": _answering(pool_weight),
    "pool.restore": _answering(pool_restore),
}
