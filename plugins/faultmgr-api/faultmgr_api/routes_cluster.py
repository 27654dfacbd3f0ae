"""``/api/v1`` routes about the daemon and the cluster: status, nodes, pools, rules, the event journal,
injected events, reload and the live stream."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from faultmgr.builtins.external import admit
from faultmgr_api.bodies import EventBody, ReloadBody
from faultmgr_api.cluster import nodes_view, pools_view, status_view
from faultmgr_api.errors import ApiError, parse_body, query_params
from faultmgr_api.routes_alerts import int_param
from faultmgr_api.server import caller, daemon_of, needs, server_of
from faultmgr_api.stream import KINDS

MAX_PAGE = 1000


def _json(data: Any, status: int = 200) -> web.Response:
    # default=str: component status() may hold paths or timestamps that json cannot encode by itself
    return web.Response(text=json.dumps(data, default=str), status=status, content_type="application/json")


@needs("read")
@query_params()
async def whoami(request: web.Request) -> web.Response:
    token = caller(request)
    return _json({"name": token.name, "scope": token.scope, "node": daemon_of(request).node})


@needs("read")
@query_params()
async def status(request: web.Request) -> web.Response:
    return _json(status_view(daemon_of(request)))


@needs("read")
@query_params()
async def nodes(request: web.Request) -> web.Response:
    return _json(nodes_view(daemon_of(request)))


@needs("read")
@query_params()
async def pools(request: web.Request) -> web.Response:
    return _json({"pools": await pools_view(daemon_of(request))})


@needs("read")
@query_params()
async def pool(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    found = await pools_view(daemon_of(request), only=name)
    if not found:
        raise ApiError(404, f"no pool {name!r}")
    return _json(found[0])


@needs("read")
@query_params()
async def rules(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    items = [{"name": name, "enabled": spec.enabled, "severity": spec.severity, "notify": list(spec.notify),
              "actions": list(spec.actions), "spec": spec.model_dump(mode="json", by_alias=True)}
             for name, spec in daemon.config.rules.items()]
    reload = dict(daemon.last_reload)
    return _json({"files": list(daemon.config.files), "rules": items, "last_reload": {
        "time": reload.get("time"), "ok": reload.get("ok"), "by": reload.get("by"),
        "errors": list(reload.get("errors") or []), "changed": list(reload.get("changed") or [])}})


@needs("read")
@query_params("limit", "before_id", "kind", "subject", "source", "since", "until")
async def events(request: web.Request) -> web.Response:
    """The journal's events, newest first; page with ``before_id`` = the last id of the previous page."""
    daemon = daemon_of(request)
    limit = int_param(request, "limit", 100, high=MAX_PAGE)
    before = int_param(request, "before_id")
    since, until = _float_param(request, "since"), _float_param(request, "until")
    query = request.query
    rows = daemon.journal.events(kind=query.get("kind") or None, subject=query.get("subject") or None,
                                 source=query.get("source") or None, since=since, until=until,
                                 limit=limit or 100, before_id=before)
    next_before = rows[-1]["id"] if rows and len(rows) == limit else None
    return _json({"events": rows, "next_before_id": next_before})


def _float_param(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be seconds since the epoch, not {raw[:40]!r}") from None


@needs("admin")
async def inject(request: web.Request) -> web.Response:
    """Hand an event to the engine as if the named ``external`` detector had seen it."""
    body = await parse_body(request, EventBody)
    daemon = daemon_of(request)
    who, now = caller(request).name, daemon.clock.now()
    try:
        event = admit(daemon.config.detectors, body.model_dump(), now, who)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    daemon.journal.record_control(who, "inject", f"{body.source}/{body.kind}", body.subject, now)
    daemon.emit(event)
    return _json({"accepted": True}, status=202)


@needs("admin")
async def reload(request: web.Request) -> web.Response:
    await parse_body(request, ReloadBody, optional=True)
    daemon = daemon_of(request)
    result = await daemon.reload(caller(request).name)
    return _json({"ok": bool(result.get("ok")), "changed": list(result.get("changed") or []),
                  "error": result.get("error"), "errors": list(result.get("errors") or [])},
                 status=200 if result.get("ok") else 409)


@needs("read")
@query_params("kinds")
async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``event``, ``alert`` and ``notification`` (``kinds=event,alert`` to choose)."""
    raw = request.query.get("kinds", "")
    kinds = frozenset(k for k in (p.strip() for p in raw.split(",")) if k) or frozenset(KINDS)
    unknown = sorted(kinds - set(KINDS))
    if unknown:
        raise ApiError(400, f"kinds {unknown[0]!r} is not one of {', '.join(KINDS)}")
    server = server_of(request)
    return await server.hub.serve(request, kinds)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/v1/whoami", whoami)
    router.add_get("/api/v1/status", status)
    router.add_get("/api/v1/nodes", nodes)
    router.add_get("/api/v1/pools", pools)
    router.add_get("/api/v1/pools/{name}", pool)
    router.add_get("/api/v1/rules", rules)
    router.add_get("/api/v1/events", events)
    router.add_post("/api/v1/events", inject)
    router.add_post("/api/v1/reload", reload)
    router.add_get("/api/v1/stream", stream)
