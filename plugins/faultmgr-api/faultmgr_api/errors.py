"""Errors as JSON: every 4xx/5xx the API returns is ``{"error": "...", "status": N}`` (plus ``details``)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

log = logging.getLogger("faultmgr.api")

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A refusal with an HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def error_response(status: int, message: str, details: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message, "status": status}
    if details:
        body["details"] = details
    return web.json_response(body, status=status, headers=headers)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as ``{"field": "matchers.0", "problem": "..."}`` items."""
    out = []
    for item in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "(body)"
        problem = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            problem = "unknown field"
        out.append({"field": where, "problem": problem})
    return out


def summary(details: list[dict[str, Any]]) -> str:
    return "; ".join(f"{d['field']}: {d['problem']}" for d in details)


async def parse_body(request: web.Request, model: type[M], *, optional: bool = False) -> M:
    """Read, decode and validate a JSON body; every failure is an :class:`ApiError` naming the problem.

    aiohttp refuses bodies above the app's ``client_max_size`` with 413 while reading.
    """
    raw = await request.read()
    if not raw.strip():
        if optional:
            return model()
        raise ApiError(400, "request body is empty: send a JSON object")
    ctype = request.content_type
    if ctype not in ("application/json", "application/octet-stream", "") and not ctype.endswith("+json"):
        raise ApiError(415, f"content type {ctype!r} is not application/json")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(422, f"the body must be a JSON object, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        raise ApiError(422, f"invalid {model.__name__}: {summary(details)}", details) from None


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal (ours and aiohttp's: 404, 405, 413) into a JSON error; log real bugs."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        if exc.status == 413:
            from faultmgr_api.server import server_of  # here: server.py imports this module

            message = f"request body too large (limit {server_of(request).section.max_body_bytes} bytes)"
        return error_response(exc.status, message or exc.reason,
                              headers={k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")})
    except Exception:
        log.exception("API %s %s failed", request.method, request.path)
        return error_response(500, "internal error (see the daemon's log)")


def query_params(*names: str) -> Callable[[Handler], Handler]:
    """Accept only these query parameters: any other is a 400 naming it, so a misspelled filter
    (``?sevrity=critical``) is an error instead of an unfiltered answer. Put it under ``@needs``."""
    allowed = frozenset(names)

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            unknown = sorted(set(request.query) - allowed)
            if unknown:
                accepted = ", ".join(sorted(allowed)) or "none"
                raise ApiError(400, f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                                    f"{', '.join(repr(u) for u in unknown)} (accepted: {accepted})",
                               [{"field": name, "problem": "unknown query parameter"} for name in unknown])
            return await handler(request)
        return checked
    return wrap
