"""A local stand-in for PagerDuty's Events API v2 that checks the documented request shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from loopback import free_port, serve_app

STRING = {"type": "string"}
# The event as PagerDuty documents it (developer.pagerduty.com, Events API v2 "Send an Event"): a trigger
# needs a payload with summary, source and severity; acknowledge and resolve need the dedup_key.
EVENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["routing_key", "event_action"],
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "minLength": 1, "maxLength": 255},
        "client": STRING,
        "client_url": STRING,
        "payload": {
            "type": "object",
            "additionalProperties": False,
            "required": ["summary", "source", "severity"],
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                "source": {"type": "string", "minLength": 1},
                "severity": {"enum": ["critical", "error", "warning", "info"]},
                "timestamp": {"type": "string", "format": "date-time"},
                "component": STRING,
                "group": STRING,
                "class": STRING,
                "custom_details": {"type": "object"},
            },
        },
        "links": {"type": "array", "items": {"type": "object", "required": ["href"],
                                             "properties": {"href": STRING, "text": STRING}}},
        "images": {"type": "array", "items": {"type": "object", "required": ["src"]}},
    },
    "if": {"properties": {"event_action": {"const": "trigger"}}},
    "then": {"required": ["payload"]},
    "else": {"required": ["dedup_key"], "not": {"required": ["payload"]}},
}


class PagerDutyStandIn:
    """Answers 202 to a valid event, 400 to an invalid one; ``replies`` queues forced answers."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.replies: list[tuple[int, dict[str, str]]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        try:
            if request.method != "POST" or request.path != "/v2/enqueue":
                raise ValueError(f"no such endpoint: {request.method} {request.path}")
            if request.content_type != "application/json":
                raise ValueError(f"content type {request.content_type}")
            event = await request.json()
            jsonschema.validate(event, EVENT, format_checker=jsonschema.FormatChecker())
        except (ValueError, jsonschema.ValidationError) as exc:
            message = getattr(exc, "message", str(exc))
            self.violations.append(message)
            return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                      "errors": [message]}, status=400)
        self.events.append(event)
        if self.replies:
            status, headers = self.replies.pop(0)
            return web.json_response({"status": "forced", "message": f"forced {status}"}, status=status,
                                     headers=headers)
        return web.json_response({"status": "success", "message": "Event processed",
                                  "dedup_key": event.get("dedup_key", "generated")}, status=202)


@pytest.fixture
async def pagerduty() -> AsyncIterator[PagerDutyStandIn]:
    """The stand-in on a loopback port; ``pagerduty.url`` is its enqueue endpoint."""
    stand_in = PagerDutyStandIn()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stand_in.handle)
    async with serve_app(app) as base_url:
        stand_in.url = f"{base_url}/v2/enqueue"
        yield stand_in


@pytest.fixture
def unused_port() -> int:
    """A loopback TCP port nothing listens on."""
    return free_port()
