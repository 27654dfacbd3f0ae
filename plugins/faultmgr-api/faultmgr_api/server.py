"""The HTTP server: one aiohttp application in the daemon's event loop, started and stopped by the plugin.

Auth: every route declares the scope it needs (``public``, ``read``, ``admin``) with :func:`needs`; the
middleware finds the caller's token from ``Authorization: Bearer ...`` and stores it as ``request["token"]``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from faultmgr.config.types import check_private_file
from faultmgr_api.errors import Handler, error_response, json_errors
from faultmgr_api.metrics import ApiMetrics
from faultmgr_api.settings import ApiSection, split_listen
from faultmgr_api.stream import EventHub
from faultmgr_api.tokens import Token, TokenTable, load_tokens

if TYPE_CHECKING:
    from faultmgr.daemon import Daemon

log = logging.getLogger("faultmgr.api")
F = TypeVar("F", bound=Callable[..., Any])
_SCOPE_ATTR = "_faultmgr_api_scope"


def needs(scope: str) -> Callable[[F], F]:
    """Mark a handler with the scope it needs: ``public``, ``read`` or ``admin``."""
    def mark(func: F) -> F:
        setattr(func, _SCOPE_ATTR, scope)
        return func
    return mark


def caller(request: web.Request) -> Token:
    """The token of the request (handlers marked ``read`` or ``admin`` always have one)."""
    token: Token = request["token"]
    return token


def server_of(request: web.Request) -> ApiServer:
    return request.app[API_KEY]


def daemon_of(request: web.Request) -> Daemon:
    return server_of(request).daemon


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a known token, 403 with a read token on an admin route; routes not marked need ``read``."""
    server = server_of(request)
    route_handler = getattr(request.match_info, "handler", None)
    scope = getattr(route_handler, _SCOPE_ATTR, "read")
    if request.path == "/metrics" and not server.section.metrics_auth:
        scope = "public"
    header = request.headers.get("Authorization", "")
    token = None
    if header[:7].lower() == "bearer ":
        token = server.tokens.find(header[7:].strip())
    request["token"] = token
    if scope == "public" or request.match_info.http_exception is not None:
        return await handler(request)
    challenge = {"WWW-Authenticate": 'Bearer realm="faultmgr"'}
    if token is None:
        message = "invalid token" if header else "authentication required: send 'Authorization: Bearer TOKEN'"
        return error_response(401, message, headers=challenge)
    if not token.allows(scope):
        return error_response(403, f"token {token.name!r} has scope {token.scope!r}; this needs {scope!r}")
    return await handler(request)


class ApiServer:
    """The API, metrics and dashboard of one daemon."""

    def __init__(self, daemon: Daemon, section: ApiSection) -> None:
        self.daemon = daemon
        self.section = section
        self.tokens = TokenTable(load_tokens(section.tokens_file))
        self.hub = EventHub()
        self.metrics = ApiMetrics(daemon)
        self.runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    def reload_tokens(self) -> None:
        """Re-read the tokens file; a broken file keeps the old tokens (and says why in the log)."""
        try:
            self.tokens = TokenTable(load_tokens(self.section.tokens_file))
        except (ValueError, OSError) as exc:
            log.error("api: tokens not reloaded, the old ones stay in force: %s", exc)

    def build_app(self) -> web.Application:
        from faultmgr_api import (
            dashboard,
            openapi,
            routes_alerts,
            routes_cluster,
            routes_control,
            routes_pools,
        )

        app = web.Application(middlewares=[json_errors, bearer_auth], client_max_size=self.section.max_body_bytes)
        app[API_KEY] = self
        routes_alerts.add_routes(app)
        routes_cluster.add_routes(app)
        routes_pools.add_routes(app)
        routes_control.add_routes(app)
        openapi.add_routes(app)
        app.router.add_get("/metrics", self.serve_metrics)
        if self.section.dashboard:
            dashboard.add_routes(app)
        return app

    @needs("read")
    async def serve_metrics(self, request: web.Request) -> web.Response:
        body, content_type = self.metrics.render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    def _tls(self) -> ssl.SSLContext | None:
        if self.section.tls_cert is None or self.section.tls_key is None:
            return None
        check_private_file(self.section.tls_key, "api tls_key")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.section.tls_cert, self.section.tls_key)
        return context

    async def start(self) -> None:
        host, port = split_listen(self.section.listen)
        self.daemon.listeners.append(self.hub.publish)
        self.daemon.listeners.append(self.metrics.observe)
        self.metrics.attach()
        self.runner = web.AppRunner(self.build_app(), access_log=logging.getLogger("faultmgr.api.access"),
                                    shutdown_timeout=2.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, ssl_context=self._tls(), reuse_address=True)
        await site.start()
        bound = self.runner.addresses[0] if self.runner.addresses else (host, port)
        self.address = (host, int(bound[1]))
        scheme = "https" if self.section.tls_cert else "http"
        log.info("api: serving %s://%s:%d/ (dashboard %s)", scheme, host if ":" not in host else f"[{host}]",
                 self.address[1], "on" if self.section.dashboard else "off")

    async def stop(self) -> None:
        for listener in (self.hub.publish, self.metrics.observe):
            if listener in self.daemon.listeners:
                self.daemon.listeners.remove(listener)
        self.metrics.detach()
        self.hub.close()
        runner, self.runner = self.runner, None
        if runner is not None:
            await asyncio.sleep(0)  # let open streams see the close marker before the sockets go
            await runner.cleanup()
            log.info("api: stopped")


API_KEY = web.AppKey("faultmgr_api", ApiServer)

