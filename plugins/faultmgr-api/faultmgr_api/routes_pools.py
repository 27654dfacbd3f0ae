"""``/api/v1/pools/{name}/servers/{server}/...``: drain, add, reweight a real server and clear the override
(operator changes through the pools plugin's controller, so they survive restarts and queue behind the
changes alerts make). Every change is journalled with the token's name."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from faultmgr_api.bodies import AddServerBody, DrainBody, WeightBody
from faultmgr_api.cluster import pool_controller, pools_view
from faultmgr_api.errors import ApiError, parse_body
from faultmgr_api.server import caller, daemon_of, needs


def _target(request: web.Request) -> tuple[Any, str, str]:
    daemon = daemon_of(request)
    name, server = request.match_info["name"], request.match_info["server"]
    controller = pool_controller(daemon, name)
    if controller is None:
        raise ApiError(404, f"no pool {name!r}")
    return controller, name, server


def _journal(request: web.Request, action: str, pool: str, server: str, detail: str) -> None:
    daemon = daemon_of(request)
    daemon.journal.record_control(caller(request).name, action, f"pool {pool}/{server}", detail, daemon.clock.now())


async def _answer(request: web.Request, pool: str, extra: dict[str, Any]) -> web.Response:
    view = await pools_view(daemon_of(request), only=pool)
    return web.json_response({**extra, "pool": view[0]})


@needs("admin")
async def drain(request: web.Request) -> web.Response:
    from faultmgr_pools.nodes import PoolError, drain_server

    body = await parse_body(request, DrainBody, optional=True)
    controller, pool, server = _target(request)
    try:
        result = await drain_server(controller, server, body.timeout)
    except PoolError as exc:
        raise ApiError(404, str(exc)) from None
    _journal(request, "pool.drain", pool, server, f"drained={result.drained} active_left={result.active_left}")
    return await _answer(request, pool, {"server": server, "drained": result.drained,
                                         "active_left": result.active_left, "waited": round(result.waited, 3),
                                         "report": result.report.as_dict()})


@needs("admin")
async def add(request: web.Request) -> web.Response:
    from faultmgr_pools.health import health_check
    from faultmgr_pools.nodes import PoolError, add_server

    body = await parse_body(request, AddServerBody, optional=True)
    controller, pool, server = _target(request)
    # The check `faultmgr pool add` waits on: the daemon's probe of the server when one watches it, else TCP.
    check = health_check(daemon_of(request), server, body.rise)
    try:
        report = await add_server(controller, server, weight=body.weight, address=body.address, port=body.port,
                                  check=check, rise=check.rise, interval=check.interval, timeout=body.timeout)
    except PoolError as exc:
        raise ApiError(422, str(exc)) from None
    if report is None:
        raise ApiError(409, f"server {server!r} did not pass its {check.what} {check.rise} time(s) in a row "
                            f"within {body.timeout:g}s (last: {check.last_reason}); pool {pool} is unchanged")
    weight = body.weight if body.weight is not None else "declared"
    _journal(request, "pool.add", pool, server, f"weight={weight} rise={check.rise}")
    return await _answer(request, pool, {"server": server, "report": report.as_dict()})


@needs("admin")
async def weight(request: web.Request) -> web.Response:
    body = await parse_body(request, WeightBody)
    controller, pool, server = _target(request)
    if controller.target(server) is None:
        raise ApiError(404, f"pool {pool} has no server {server!r}")
    report = await controller.override(server, {"weight": body.weight})
    _journal(request, "pool.weight", pool, server, f"weight={body.weight}")
    return await _answer(request, pool, {"server": server, "report": report.as_dict()})


@needs("admin")
async def clear(request: web.Request) -> web.Response:
    controller, pool, server = _target(request)
    if server not in controller.overrides():
        raise ApiError(404, f"server {server!r} of pool {pool} has no override")
    report = await controller.override(server, None)
    _journal(request, "pool.restore", pool, server, "back to the rule file")
    return await _answer(request, pool, {"server": server, "report": report.as_dict()})


def add_routes(app: web.Application) -> None:
    base = "/api/v1/pools/{name}/servers/{server}"
    app.router.add_post(base + "/drain", drain)
    app.router.add_post(base + "/add", add)
    app.router.add_post(base + "/weight", weight)
    app.router.add_delete(base + "/override", clear)
