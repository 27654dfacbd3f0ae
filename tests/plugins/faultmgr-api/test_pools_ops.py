"""Operator changes to a pool through the API, on a real haproxy: reweight, clear, drain, add back."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

Daemon = Any
READ = "bob-read-token-0123456789abc"
BASE = "/api/v1/pools/web/servers"


def servers(daemon: Daemon) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in daemon.get("/api/v1/pools/web").json()["servers"]}


@pytest.fixture
def restored(daemon: Daemon) -> Iterator[None]:
    """Leave the shared pool as declared, whatever the test did."""
    yield
    for name in ("web1", "web2"):
        daemon.delete(f"{BASE}/{name}/override")
    assert {n: s["weight"] for n, s in servers(daemon).items()} == {"web1": 10, "web2": 10, "web3": 3}


def test_reweight_and_clear(daemon: Daemon, restored: None) -> None:
    changed = daemon.post(f"{BASE}/web1/weight", {"weight": 4})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["report"]["errors"] == [] and body["report"]["changes"]
    assert {s["name"]: s["weight"] for s in body["pool"]["servers"]}["web1"] == 4
    assert servers(daemon)["web1"]["override"] == {"weight": 4}
    cleared = daemon.delete(f"{BASE}/web1/override")
    assert cleared.status_code == 200 and servers(daemon)["web1"]["weight"] == 10
    assert daemon.delete(f"{BASE}/web1/override").status_code == 404
    control = json.loads(daemon.faultmgr("history", "-c", str(daemon.config), "--what", "control", "--json",
                                         "-n", "50").stdout)
    assert any(r["who"] == "alice" and r["action"] == "pool.weight" and r["target"] == "pool web/web1"
               for r in control)


def test_drain_then_add_back_when_healthy(daemon: Daemon, restored: None) -> None:
    drained = daemon.post(f"{BASE}/web2/drain", {"timeout": "2s"})
    assert drained.status_code == 200, drained.text
    assert drained.json()["drained"] is True and drained.json()["active_left"] == 0
    assert servers(daemon)["web2"]["weight"] is None  # gone from haproxy's backend
    port = servers(daemon)["web2"]["port"]
    unhealthy = daemon.post(f"{BASE}/web2/add", {"timeout": "1s"})
    assert unhealthy.status_code == 409 and "did not pass its TCP check 1 time(s)" in unhealthy.json()["error"]
    with socket.socket() as listener:  # web2 comes up: now the TCP check passes
        listener.bind(("127.0.0.1", port))
        listener.listen()
        added = daemon.post(f"{BASE}/web2/add", {"timeout": "5s", "rise": 2})
    assert added.status_code == 200, added.text
    assert servers(daemon)["web2"]["weight"] == 10


def test_pool_changes_need_admin_and_known_names(daemon: Daemon) -> None:
    assert daemon.post(f"{BASE}/web1/weight", {"weight": 1}, token=READ).status_code == 403
    assert daemon.post("/api/v1/pools/nope/servers/web1/weight", {"weight": 1}).status_code == 404
    assert daemon.post(f"{BASE}/nope/weight", {"weight": 1}).status_code == 404
    assert daemon.post(f"{BASE}/web1/weight", {"weight": -1}).status_code == 422
    assert daemon.post(f"{BASE}/web1/weight", {}).status_code == 422
    assert daemon.post(f"{BASE}/nope/drain", {}).status_code == 404
