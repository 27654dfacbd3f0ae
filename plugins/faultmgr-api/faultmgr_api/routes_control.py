"""``POST /api/v1/control``: the local control socket's requests over HTTP, for the ``faultmgr`` command line.

When an API address is configured, ``faultmgr alerts``, ``ack``, ``silence ...``, ``status``, ``pool ...`` and
the other commands that talk to a daemon send their control request here instead of to the unix socket
(:mod:`faultmgr_api.http_transport`). The daemon answers it with the very handler the socket uses, so the
command line prints the same thing either way; the caller is the token's name where the socket would give the
user's. Requests that only read need a ``read`` token, every other (core or plugin) one ``admin``. Scripts are
better served by the resource endpoints (``/api/v1/alerts`` ...), whose shapes are documented one by one.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from faultmgr_api.bodies import ControlBody
from faultmgr_api.errors import ApiError, parse_body
from faultmgr_api.server import caller, daemon_of, needs

log = logging.getLogger("faultmgr.api")

#: Control requests that change nothing: a ``read`` token may send them. Any other needs ``admin``.
READ_ONLY = frozenset({"status", "alerts", "silence.list", "pool.list", "probe.list", "nodes"})


@needs("read")
async def control(request: web.Request) -> web.Response:
    """Run one control request; 200 with its answer, 422 with ``error`` (and ``errors``) when refused."""
    body = await parse_body(request, ControlBody)
    token = caller(request)
    if body.cmd not in READ_ONLY and not token.allows("admin"):
        raise ApiError(403, f"token {token.name!r} has scope {token.scope!r}; {body.cmd!r} needs 'admin'")
    daemon = daemon_of(request)
    try:
        answer = await daemon.control.handler(token.name, {**body.args, "cmd": body.cmd})
    except (ValueError, KeyError, TypeError) as exc:  # as the socket answers them (faultmgr.control)
        answer = {"ok": False, "error": exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)}
    if not answer.get("ok", False):
        refusal: dict[str, Any] = {"error": str(answer.get("error") or "request refused"), "status": 422}
        if answer.get("errors"):
            refusal["errors"] = [str(e) for e in answer["errors"]]
        return web.json_response(refusal, status=422)
    # default=str, as the socket encodes: answers may hold paths or timestamps
    return web.Response(text=json.dumps(answer, default=str), content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/control", control)
