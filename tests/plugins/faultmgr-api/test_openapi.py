"""The OpenAPI description matches what the server does: the spec is valid 3.1, documents every route, and
every response the daemon gives to a tour of requests (good and bad) validates against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from faultmgr_api.openapi import build_spec
from faultmgr_api.server import ApiServer
from faultmgr_api.settings import ApiSection
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_spec_validator import validate

Daemon = Any
ADMIN = "alice-admin-token-0123456789"
READ = "bob-read-token-0123456789abc"
UNDOCUMENTED = {"/", "/static/{name}", "/metrics"}


def test_spec_is_valid_openapi_31(daemon: Daemon) -> None:
    served = daemon.get("/api/v1/openapi.json", token=None)
    assert served.status_code == 200
    spec = served.json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)
    assert spec == build_spec()


def test_every_route_is_documented(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("")
    server = ApiServer.__new__(ApiServer)
    server.section = ApiSection(tokens_file=tokens)
    app = server.build_app()
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()  # type: ignore[union-attr]
              if r.method != "HEAD"}
    paths = build_spec()["paths"]
    documented = {(method, path) for path, ops in paths.items() for method in ops}
    served = {(m, p) for m, p in routes if p not in UNDOCUMENTED}
    assert served == documented


def tour(daemon: Daemon) -> list[requests.Response]:
    """Requests covering every documented operation, with good and bad input."""
    daemon.inject("openapi-1", payload={"latency_ms": 3})
    alert = daemon.wait_alert("openapi-1")
    aid = alert["id"]
    out = [
        daemon.get("/api/v1/alerts"), daemon.get("/api/v1/alerts?state=resolved"),
        daemon.get("/api/v1/alerts?state=nope"), daemon.get(f"/api/v1/alerts/{aid}"),
        daemon.get("/api/v1/alerts/999999"), daemon.get("/api/v1/alerts", token=None),
        daemon.post(f"/api/v1/alerts/{aid}/ack", {"comment": "x"}), daemon.post(f"/api/v1/alerts/{aid}/ack", {"x": 1}),
        daemon.post(f"/api/v1/alerts/{aid}/unack", {}), daemon.post(f"/api/v1/alerts/{aid}/ack", {}, token=READ),
        daemon.post("/api/v1/alerts/999999/ack", {}),
        daemon.get("/api/v1/silences"), daemon.get("/api/v1/silences?all=true"),
        daemon.post("/api/v1/silences", {"matchers": ["subject=openapi-1"], "duration": 60}),
        daemon.post("/api/v1/silences", {"matchers": ["subject=~("], "duration": "1h"}),
        daemon.delete("/api/v1/silences/999999"),
        daemon.get("/api/v1/events?limit=3"), daemon.get("/api/v1/events?before_id=x"),
        daemon.post("/api/v1/events", {"kind": "app.note", "source": "ext", "subject": "openapi-2"}),
        daemon.post("/api/v1/events", {"kind": "app.note", "source": "nope", "subject": "openapi-2"}),
        daemon.get("/api/v1/nodes"), daemon.get("/api/v1/pools"), daemon.get("/api/v1/pools/none"),
        daemon.get("/api/v1/rules"), daemon.get("/api/v1/status"), daemon.get("/api/v1/whoami"),
        daemon.post("/api/v1/reload", {}), daemon.post("/api/v1/reload", {}, token=READ),
        daemon.get("/api/v1/openapi.json", token=None),
        daemon.post("/api/v1/pools/web/servers/web1/weight", {"weight": 10}),
        daemon.delete("/api/v1/pools/web/servers/web1/override"),
        daemon.delete("/api/v1/pools/web/servers/web1/override"),
        daemon.post("/api/v1/pools/nope/servers/web1/drain", {}),
        daemon.post("/api/v1/pools/web/servers/web1/weight", {"weight": "x"}),
        daemon.get("/api/v1/alerts?sevrity=critical"), daemon.get("/api/v1/events?limit=2&kinds=x"),
        daemon.get("/api/v1/status?verbose=1"),
        daemon.post("/api/v1/control", {"cmd": "silence.list", "args": {"all": True}}, token=READ),
        daemon.post("/api/v1/control", {"cmd": "ack", "args": {"id": 999999}}),
        daemon.post("/api/v1/control", {"cmd": "silence.expire", "args": {"id": 1}}, token=READ),
        daemon.post("/api/v1/control", {"command": "status"}),
    ]
    silence = next(r for r in out if r.status_code == 201).json()
    out.append(daemon.delete(f"/api/v1/silences/{silence['id']}"))
    return out


def test_every_response_matches_the_spec(daemon: Daemon) -> None:
    openapi = OpenAPI.from_dict(build_spec())
    responses = tour(daemon)
    statuses = {r.status_code for r in responses}
    assert {200, 201, 202, 400, 401, 403, 404, 422} <= statuses
    for response in responses:
        request = RequestsOpenAPIRequest(response.request)
        try:
            openapi.validate_response(request, RequestsOpenAPIResponse(response))
        except Exception as exc:  # name the request in the failure
            pytest.fail(f"{response.request.method} {response.request.url} -> {response.status_code}: "
                        f"{type(exc).__name__}: {exc}\n{response.text[:500]}")
