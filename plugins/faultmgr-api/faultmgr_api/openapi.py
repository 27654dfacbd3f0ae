"""The OpenAPI 3.1 description of ``/api/v1``, served at ``/api/v1/openapi.json``.

Request schemas come from the pydantic models that validate the bodies (:mod:`faultmgr_api.bodies`), so
they cannot drift; response schemas are written here and the test suite checks every response it receives
against them (``tests/plugins/faultmgr-api``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from faultmgr_api.bodies import (
    AckBody,
    AddServerBody,
    ControlBody,
    DrainBody,
    EventBody,
    ReloadBody,
    SilenceBody,
    UnackBody,
    WeightBody,
)
from faultmgr_api.server import needs

REF = "#/components/schemas/{model}"
S = "string"
NUM: dict[str, Any] = {"type": "number"}
INT: dict[str, Any] = {"type": "integer"}
STR: dict[str, Any] = {"type": S}
STR_OR_NULL: dict[str, Any] = {"type": [S, "null"]}
NUM_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}
LABELS: dict[str, Any] = {"type": "object", "additionalProperties": STR}


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def obj(required: list[str], props: dict[str, Any], extra: bool = False) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props, "additionalProperties": extra}


ALERT_KEYS = ["id", "fingerprint", "rule", "subject", "severity", "state", "labels", "annotations", "starts_at",
              "ends_at", "updated_at", "firing", "count", "acknowledged_by", "acknowledged_comment", "last_event"]
SCHEMAS: dict[str, Any] = {
    "Error": obj(["error", "status"], {"error": STR, "status": INT, "details": {"type": "array", "items": obj(
        ["field", "problem"], {"field": STR, "problem": STR})}, "errors": {"type": "array", "items": STR}}),
    "ControlAnswer": obj(["ok"], {"ok": {"const": True}}, extra=True),
    "Alert": obj(ALERT_KEYS + ["muted"], {
        "id": INT, "fingerprint": STR, "rule": STR, "subject": STR, "severity": STR,
        "state": {"enum": ["pending", "firing", "resolved"]}, "labels": LABELS, "annotations": LABELS,
        "starts_at": NUM, "ends_at": NUM_OR_NULL, "updated_at": NUM, "firing": INT, "count": INT,
        "acknowledged_by": STR_OR_NULL, "acknowledged_comment": STR_OR_NULL, "last_event": {"type": "object"},
        "muted": {"type": [S, "null"], "description": "why it is not notified now (silenced, inhibited, "
                                                      "flapping), or null"}}),
    "AlertList": obj(["alerts"], {"alerts": {"type": "array", "items": ref("Alert")}}),
    "Silence": obj(["id", "matchers", "starts_at", "ends_at", "author", "comment", "created_at"], {
        "id": INT, "matchers": {"type": "array", "items": STR}, "starts_at": NUM, "ends_at": NUM,
        "author": STR, "comment": STR, "created_at": NUM}),
    "SilenceList": obj(["silences"], {"silences": {"type": "array", "items": ref("Silence")}}),
    "Event": obj(["id", "time", "kind", "source", "subject", "severity", "message", "labels", "payload"], {
        "id": INT, "time": NUM, "kind": STR, "source": STR, "subject": STR,
        "severity": {"enum": ["ok", "info", "warning", "critical"]}, "message": STR, "labels": LABELS,
        "payload": {"type": "object"}}),
    "EventPage": obj(["events", "next_before_id"], {"events": {"type": "array", "items": ref("Event")},
                                                    "next_before_id": {"type": ["integer", "null"]}}),
    "Accepted": obj(["accepted"], {"accepted": {"const": True}}),
    "WhoAmI": obj(["name", "scope", "node"], {"name": STR, "scope": {"enum": ["read", "admin"]}, "node": STR}),
    "Status": obj(["node", "pid", "started_at", "counters", "outbox_depth", "alerts", "components"], {
        "node": STR, "pid": INT, "started_at": NUM, "counters": {"type": "object"}, "outbox_depth": INT,
        "alerts": {"type": "object"}, "components": {"type": "object"}}, extra=True),
    "Path": obj(["name", "alive", "last_seen_ms_ago", "seq"], {"name": STR, "alive": {"type": ["boolean", "null"]},
                                                               "last_seen_ms_ago": NUM_OR_NULL, "seq": {}}),
    "Peer": obj(["detector", "type", "peer", "state", "last_seen_ms_ago", "restarts", "paths"], {
        "detector": STR, "type": STR, "peer": STR, "state": STR_OR_NULL, "last_seen_ms_ago": NUM_OR_NULL,
        "restarts": {}, "paths": {"type": "array", "items": ref("Path")}}),
    "Claim": obj(["node", "source", "age_ms"], {"node": STR, "source": {"enum": ["here", "beat"]},
                                                "age_ms": NUM_OR_NULL}),
    "Vip": obj(["action", "type", "vip", "interface", "held", "holder", "holder_source", "holder_age_ms",
                "claims", "last_change", "status"], {
        "action": STR, "type": STR, "vip": STR_OR_NULL, "interface": STR_OR_NULL,
        "held": {"type": ["boolean", "null"]}, "holder": STR_OR_NULL,
        "holder_source": {"enum": ["here", "beat", None]}, "holder_age_ms": NUM_OR_NULL,
        "claims": {"type": "array", "items": ref("Claim")}, "last_change": NUM_OR_NULL,
        "status": {"type": "object"}}),
    "Head": obj(["node", "self", "detector", "state", "last_seen_ms_ago", "role", "vips"], {
        "node": STR, "self": {"type": "boolean"}, "detector": STR_OR_NULL, "state": STR_OR_NULL,
        "last_seen_ms_ago": NUM_OR_NULL, "role": {}, "vips": {"type": "array", "items": STR}}),
    "Nodes": obj(["node", "heads", "peers", "vips"], {
        "node": STR, "heads": {"type": "array", "items": ref("Head")},
        "peers": {"type": "array", "items": ref("Peer")}, "vips": {"type": "array", "items": ref("Vip")}}),
    "PoolServer": obj(["name", "role", "address", "port", "declared_weight", "standby", "override", "weight",
                       "state", "active", "serving"], {
        "name": STR, "role": {"enum": ["real", "sorry", "undeclared"]}, "address": STR, "port": INT,
        "declared_weight": {"type": ["integer", "null"]},
        "standby": {"type": "boolean"}, "override": {"type": ["object", "null"]},
        "weight": {"type": ["integer", "null"]}, "state": STR_OR_NULL, "active": {"type": ["integer", "null"]},
        "serving": {"type": ["boolean", "null"]}}),
    "Pool": obj(["name", "backend", "quorum", "service", "serving", "live_error", "servers"], {
        "name": STR, "backend": STR, "quorum": INT, "service": {"type": ["object", "null"]},
        "serving": {"type": ["integer", "null"]}, "live_error": STR_OR_NULL,
        "servers": {"type": "array", "items": ref("PoolServer")}}),
    "PoolChange": obj(["server", "report", "pool"], {
        "server": STR, "report": obj(["changes", "errors", "serving", "quorum", "quorum_ok", "sorry_active"], {
            "changes": {"type": "array", "items": STR}, "errors": {"type": "array", "items": STR},
            "serving": INT, "quorum": INT, "quorum_ok": {"type": "boolean"}, "sorry_active": {"type": "boolean"}}),
        "pool": ref("Pool"), "drained": {"type": "boolean"}, "active_left": INT, "waited": NUM}),
    "PoolList": obj(["pools"], {"pools": {"type": "array", "items": ref("Pool")}}),
    "Rules": obj(["files", "rules", "last_reload"], {
        "files": {"type": "array", "items": STR},
        "rules": {"type": "array", "items": obj(["name", "enabled", "severity", "notify", "actions", "spec"], {
            "name": STR, "enabled": {"type": "boolean"}, "severity": STR_OR_NULL,
            "notify": {"type": "array", "items": STR}, "actions": {"type": "array", "items": STR},
            "spec": {"type": "object"}})},
        "last_reload": obj(["time", "ok", "by", "errors", "changed"], {
            "time": NUM_OR_NULL, "ok": {"type": ["boolean", "null"]}, "by": STR_OR_NULL,
            "errors": {"type": "array", "items": STR}, "changed": {"type": "array", "items": STR}})}),
    "ReloadResult": obj(["ok", "changed", "error", "errors"], {
        "ok": {"type": "boolean"}, "changed": {"type": "array", "items": STR}, "error": STR_OR_NULL,
        "errors": {"type": "array", "items": STR}}),
}
BODIES: list[type[BaseModel]] = [AckBody, UnackBody, SilenceBody, EventBody, ReloadBody, DrainBody, AddServerBody,
                                 WeightBody, ControlBody]


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "bad or unknown query parameter, or malformed JSON", 401: "no or unknown token", 403: "token lacks the scope",
            404: "not found", 409: "refused", 413: "body too large", 415: "not JSON", 422: "invalid body"}
    return {str(c): _json("Error", text[c]) for c in codes}


def _op(summary: str, scope: str, ok: tuple[str, str, str], *errors: int, body: str | None = None,
        params: list[dict[str, Any]] | None = None, optional_body: bool = False) -> dict[str, Any]:
    status, schema, description = ok
    op: dict[str, Any] = {"summary": summary, "x-scope": scope,
                          "security": [] if scope == "public" else [{"bearer": []}],
                          "responses": {status: _json(schema, description), **_errors(*errors)}}
    if scope != "public":
        op["responses"].update(_errors(401))
    if scope == "admin":
        op["responses"].update(_errors(403))
    if body:
        op["requestBody"] = {"required": not optional_body,
                             "content": {"application/json": {"schema": ref(body)}}}
        op["responses"].update(_errors(400, 413, 415, 422))
    if params:
        op["parameters"] = params
    return op


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or STR}


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or INT}


def _paths() -> dict[str, Any]:
    ident = [_path("id")]
    return {
        "/api/v1/alerts": {"get": _op("List alerts", "read", ("200", "AlertList", "alerts, oldest first"), 400,
                                      params=[_q("state", "comma-separated: pending, firing, resolved "
                                                          "(default pending,firing)"),
                                              _q("severity", "comma-separated: info, warning, critical"),
                                              _q("rule", "rule name glob"), _q("subject", "subject glob")])},
        "/api/v1/alerts/{id}": {"get": _op("Get one alert", "read", ("200", "Alert", "the alert"), 400, 404,
                                           params=ident)},
        "/api/v1/alerts/{id}/ack": {"post": _op("Acknowledge (stops escalation)", "admin",
                                                ("200", "Alert", "acknowledged"), 404, body="AckBody",
                                                params=ident, optional_body=True)},
        "/api/v1/alerts/{id}/unack": {"post": _op("Take an acknowledgement back", "admin",
                                                  ("200", "Alert", "no longer acknowledged"), 404,
                                                  body="UnackBody", params=ident, optional_body=True)},
        "/api/v1/silences": {
            "get": _op("List silences", "read", ("200", "SilenceList", "silences not yet ended"), 400,
                       params=[_q("all", "true to include expired ones", {"enum": ["true", "false", "1", "0"]})]),
            "post": _op("Create a silence (author: the token's name)", "admin", ("201", "Silence", "created"),
                        body="SilenceBody")},
        "/api/v1/silences/{id}": {"delete": _op("Expire a silence now", "admin", ("200", "Silence", "expired"),
                                                404, params=ident)},
        "/api/v1/events": {
            "get": _op("The event journal, newest first", "read", ("200", "EventPage", "one page"), 400,
                       params=[_q("limit", "page size (1..1000, default 100)", INT),
                               _q("before_id", "ids below this (next_before_id of the previous page)", INT),
                               _q("kind", "kind glob"), _q("subject", "subject glob"), _q("source", "source glob"),
                               _q("since", "epoch seconds", NUM), _q("until", "epoch seconds", NUM)]),
            "post": _op("Inject an event from an `external` detector", "admin",
                        ("202", "Accepted", "handed to the engine"), body="EventBody")},
        "/api/v1/nodes": {"get": _op("This node, heartbeat peers and paths, VIP holders", "read",
                                     ("200", "Nodes", "nodes"), 400)},
        "/api/v1/pools": {"get": _op("Load-balancer pools with real servers, weights and health", "read",
                                     ("200", "PoolList", "pools"), 400)},
        "/api/v1/pools/{name}": {"get": _op("One pool", "read", ("200", "Pool", "the pool"), 400, 404,
                                            params=[_path("name", STR)])},
        **_pool_ops(),
        "/api/v1/rules": {"get": _op("Loaded rules, rule files and the last reload", "read",
                                     ("200", "Rules", "rules"), 400)},
        "/api/v1/status": {"get": _op("Daemon status (as `faultmgr status`)", "read", ("200", "Status", "status"), 400)},
        "/api/v1/whoami": {"get": _op("The caller's token name and scope", "read", ("200", "WhoAmI", "caller"), 400)},
        "/api/v1/reload": {"post": _op("Reload the rule files", "admin", ("200", "ReloadResult", "applied"), 409,
                                       body="ReloadBody", optional_body=True)},
        "/api/v1/control": {"post": _op(
            "A control-socket request over HTTP (what the `faultmgr` command line sends when --api is set); "
            "`read` for status, alerts, silence.list, pool.list, probe.list, nodes, `admin` for any other",
            "read", ("200", "ControlAnswer", "the control socket's answer"), 403, 422, body="ControlBody")},
        "/api/v1/stream": {"get": {
            "summary": "Live feed (server-sent events: event, alert, notification)", "x-scope": "read",
            "security": [{"bearer": []}], "parameters": [_q("kinds", "comma-separated: event, alert, notification")],
            "responses": {"200": {"description": "text/event-stream; each `data:` line is JSON",
                                  "content": {"text/event-stream": {"schema": STR}}}, **_errors(400, 401)}}},
        "/api/v1/openapi.json": {"get": {"summary": "This description", "x-scope": "public", "security": [],
                                         "responses": {"200": {"description": "OpenAPI 3.1",
                                                               "content": {"application/json": {
                                                                   "schema": {"type": "object"}}}}}}},
    }


def _pool_ops() -> dict[str, Any]:
    params = [_path("name", STR), _path("server", STR)]
    base = "/api/v1/pools/{name}/servers/{server}"
    ok = ("200", "PoolChange", "done; the pool as it is now")
    return {
        base + "/drain": {"post": _op("Drain: weight 0, wait for connections to end, remove", "admin", ok, 404,
                                      body="DrainBody", params=params, optional_body=True)},
        base + "/add": {"post": _op("Put a server in the pool once its health check passes `rise` times", "admin", ok, 404, 409,
                                    body="AddServerBody", params=params, optional_body=True)},
        base + "/weight": {"post": _op("Set a server's weight (kept until the override is cleared)", "admin", ok,
                                       404, body="WeightBody", params=params)},
        base + "/override": {"delete": _op("Clear the operator's override: back to the rule file", "admin", ok,
                                           404, params=params)},
    }


def build_spec(version: str = "0.1.0") -> dict[str, Any]:
    """The whole OpenAPI document."""
    schemas = dict(SCHEMAS)
    for model in BODIES:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "faultmgr API", "version": version,
                 "description": "Alerts, silences, nodes, pools, the event journal and rules of a running "
                                "faultmgr daemon. Bearer tokens: `read` for GET, `admin` for changes. A query "
                                "parameter an operation does not list is refused with 400 naming it."},
        "servers": [{"url": "/"}],
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": _paths(),
    }


@needs("public")
async def serve_spec(request: web.Request) -> web.Response:
    return web.json_response(build_spec())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", serve_spec)
