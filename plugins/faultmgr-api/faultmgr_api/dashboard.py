"""The dashboard: static HTML, JavaScript and CSS shipped as package data (no build step, no CDN).

The page asks for a token once and keeps it in the tab's ``sessionStorage`` (gone when the tab closes,
never sent as a cookie, so no CSRF exposure); every request carries it as ``Authorization: Bearer``. The
live timeline reads ``/api/v1/stream`` with ``fetch`` (not ``EventSource``, which cannot send that header),
so the token never appears in a URL or an access log.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from faultmgr_api.server import needs

STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                                      "frame-ancestors 'none'"}


def _read(name: str) -> bytes:
    return resources.files("faultmgr_api").joinpath("static", name).read_bytes()


@needs("public")
async def index(request: web.Request) -> web.Response:
    return web.Response(body=_read("index.html"), content_type="text/html", charset="utf-8", headers=HEADERS)


@needs("public")
async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound(text=f"no asset {name!r}")
    return web.Response(body=_read(name), content_type=STATIC[name], charset="utf-8", headers=HEADERS)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", asset)
