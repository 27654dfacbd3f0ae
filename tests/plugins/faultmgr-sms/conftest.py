"""A local stand-in for Twilio's Messages API that checks every request against the CreateMessage contract.

The contract (``twilio-create-message.contract.json`` beside this file) is condensed from Twilio's OpenAPI
description. Every request is checked for method, path, Basic auth, content type and form fields (names,
types, required ones); a request that breaks it is answered 400 and recorded in ``violations``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from loopback import free_port, serve_app

CONTRACT = json.loads((Path(__file__).parent / "twilio-create-message.contract.json").read_text())
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("phone-number")
def _phone_number(value: object) -> bool:
    # E.164, a channel address (whatsapp:+1555...), or an alphanumeric sender ID.
    return isinstance(value, str) and bool(
        re.fullmatch(r"(\w+:)?\+[1-9]\d{1,14}", value) or re.fullmatch(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}", value))


def _path_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")


def _coerce(name: str, values: list[str], schema: dict[str, Any]) -> Any:
    """A form field's text -> the JSON value its declared type calls for (ValueError if it is not one)."""
    kind = schema.get("type", "string")
    if kind == "array":
        return values
    if len(values) != 1:
        raise ValueError(f"{name} given {len(values)} times")
    text = values[0]
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError(f"{name}={text!r} is not a boolean")
        return text == "true"
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    return text


class TwilioStandIn:
    """Answers CreateMessage like Twilio; ``replies`` queues forced answers ``(status, headers)``."""

    def __init__(self) -> None:
        self.path = _path_pattern(CONTRACT["path"])
        self.requests: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.replies: list[tuple[int, dict[str, str]]] = []
        self.base_url = ""
        self.account_sid, self.auth_token = ACCOUNT_SID, AUTH_TOKEN

    def _refuse(self, status: int, code: int, message: str) -> web.Response:
        if status == 400:
            self.violations.append(message)
        return web.json_response({"code": code, "message": message, "status": status,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status=status)

    def _authenticated(self, request: web.Request, sid: str) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == sid == ACCOUNT_SID and password == AUTH_TOKEN

    async def handle(self, request: web.Request) -> web.Response:
        match = self.path.match(request.path)
        if request.method != CONTRACT["method"] or match is None:
            return self._refuse(400, 20404, f"no such operation: {request.method} {request.path}")
        for name, schema in CONTRACT["path_parameters"].items():
            try:
                jsonschema.validate(match[name], schema)
            except jsonschema.ValidationError as exc:
                return self._refuse(400, 20404, f"path parameter {name}: {exc.message}")
        if not self._authenticated(request, match["AccountSid"]):
            return self._refuse(401, 20003, "Authenticate")
        if request.content_type != CONTRACT["content_type"]:
            return self._refuse(400, 12300, f"content type {request.content_type}")
        form = await request.post()
        properties = CONTRACT["form"]["properties"]
        try:
            fields = {name: _coerce(name, [str(v) for v in form.getall(name)], properties.get(name, {}))
                      for name in form}
            jsonschema.validate(fields, CONTRACT["form"], format_checker=FORMATS)
        except (ValueError, jsonschema.ValidationError) as exc:
            return self._refuse(400, 21604, f"form: {getattr(exc, 'message', exc)}")
        self.requests.append(fields)
        if self.replies:
            status, headers = self.replies.pop(0)
            return web.json_response({"code": 20000 + status, "message": f"forced {status}", "status": status},
                                     status=status, headers=headers)
        return web.json_response(self._message(match["AccountSid"], fields), status=201)

    def _message(self, sid: str, fields: dict[str, Any]) -> dict[str, Any]:
        message_sid = "SM" + secrets.token_hex(16)
        values = {"sid": message_sid, "account_sid": sid, "to": fields["To"], "from": fields.get("From"),
                  "body": fields.get("Body"), "status": "queued", "direction": "outbound-api",
                  "api_version": "2010-04-01", "num_segments": "1", "num_media": "0",
                  "messaging_service_sid": fields.get("MessagingServiceSid"),
                  "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
                  "subresource_uris": {"media": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}/Media.json"}}
        return {name: values.get(name) for name in CONTRACT["response_201_fields"]}


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioStandIn]:
    """The stand-in, listening on a loopback port (``twilio.base_url``)."""
    stand_in = TwilioStandIn()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stand_in.handle)
    async with serve_app(app) as base_url:
        stand_in.base_url = base_url
        yield stand_in


@pytest.fixture
def unused_port() -> int:
    """A loopback TCP port nothing listens on."""
    return free_port()
