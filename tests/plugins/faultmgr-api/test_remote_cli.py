"""``faultmgr remote``: tables and JSON over the HTTP API, configured by environment or file, and one clear
line when the daemon cannot be reached."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

Daemon = Any
ADMIN = "alice-admin-token-0123456789"
READ = "bob-read-token-0123456789abc"


def env(daemon: Daemon, token: str = ADMIN) -> dict[str, str]:
    return {"FAULTMGR_API_URL": daemon.url, "FAULTMGR_API_TOKEN": token,
            "FAULTMGR_REMOTE_CONFIG": "/nonexistent/remote.conf"}


def test_alerts_table_and_json(daemon: Daemon) -> None:
    daemon.inject("remote-1")
    alert = daemon.wait_alert("remote-1")
    table = daemon.faultmgr("remote", "alerts", "--subject", "remote-*", env=env(daemon, READ))
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[:5] == ["ID", "SEVERITY", "STATE", "RULE", "SUBJECT"]
    assert row.split()[:5] == [str(alert["id"]), "critical", "firing", "app-down", "remote-1"]
    as_json = daemon.faultmgr("remote", "alerts", "--subject", "remote-1", "--json", env=env(daemon, READ))
    assert json.loads(as_json.stdout)["alerts"][0]["id"] == alert["id"]


def test_ack_and_silences(daemon: Daemon) -> None:
    daemon.inject("remote-2")
    alert = daemon.wait_alert("remote-2")
    ack = daemon.faultmgr("remote", "ack", str(alert["id"]), "-c", "from the terminal", env=env(daemon))
    assert ack.returncode == 0 and ack.stdout.strip() == f"alert #{alert['id']} acknowledged by alice"
    assert daemon.get(f"/api/v1/alerts/{alert['id']}").json()["acknowledged_comment"] == "from the terminal"
    added = daemon.faultmgr("remote", "silence", "add", "subject=remote-2", "-d", "10m", "-c", "cli",
                            "--json", env=env(daemon))
    assert added.returncode == 0, added.stderr
    silence = json.loads(added.stdout)
    listed = daemon.faultmgr("remote", "silence", "list", env=env(daemon, READ))
    assert any(line.split()[:2] == [str(silence["id"]), "subject=remote-2"] for line in listed.stdout.splitlines())
    expired = daemon.faultmgr("remote", "silence", "expire", str(silence["id"]), env=env(daemon))
    assert expired.returncode == 0 and expired.stdout.strip() == f"silence #{silence['id']} expired"


def test_refusals_are_one_line(daemon: Daemon) -> None:
    read_only = daemon.faultmgr("remote", "ack", "1", env=env(daemon, READ))
    assert read_only.returncode == 1
    assert read_only.stderr.strip().startswith("faultmgr: the daemon refused (403): token 'bob' has scope 'read'")
    bad = daemon.faultmgr("remote", "silence", "add", "subject=~(", env=env(daemon))
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "does not compile" in bad.stderr


def test_status_nodes_and_pools(daemon: Daemon) -> None:
    status = daemon.faultmgr("remote", "status", env=env(daemon, READ))
    assert status.returncode == 0 and status.stdout.startswith("node head-a (pid ")
    assert "external" in status.stdout
    pools = daemon.faultmgr("remote", "pool", "list", env=env(daemon, READ)).stdout.splitlines()
    assert pools[0].split() == ["POOL", "SERVER", "ADDRESS", "PORT", "HEALTH", "WEIGHT", "DECLARED"]
    assert [line.split()[1::3] for line in pools[1:]] == [["web1", "serving"], ["web2", "serving"],
                                                       ["web3", "serving"]]
    missing = daemon.faultmgr("remote", "pool", "show", "db", env=env(daemon, READ))
    assert missing.returncode == 1 and "no pool 'db'" in missing.stderr
    nodes = daemon.faultmgr("remote", "nodes", env=env(daemon, READ)).stdout
    assert nodes.startswith("node head-a\n") and "127.0.0.77/32" in nodes and "head-b" in nodes


def test_pool_weight_and_restore(daemon: Daemon) -> None:
    changed = daemon.faultmgr("remote", "pool", "weight", "web", "web1", "7", env=env(daemon))
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.startswith("web1: ") and "web1" in changed.stdout.splitlines()[0]
    assert {s["name"]: s["weight"] for s in daemon.get("/api/v1/pools/web").json()["servers"]}["web1"] == 7
    restored = daemon.faultmgr("remote", "pool", "restore", "web", "web1", "--json", env=env(daemon))
    assert restored.returncode == 0, restored.stderr
    assert {s["name"]: s["weight"] for s in json.loads(restored.stdout)["pool"]["servers"]}["web1"] == 10


def test_config_file_must_be_private(daemon: Daemon, tmp_path: Path) -> None:
    conf = tmp_path / "remote.conf"
    conf.write_text(f"# written by the test\nurl = {daemon.url}\ntoken = {READ}\n")
    conf.chmod(0o644)
    refused = daemon.faultmgr("remote", "--config", str(conf), "alerts", env={"FAULTMGR_API_URL": "",
                                                                             "FAULTMGR_API_TOKEN": ""})
    assert refused.returncode == 2 and "chmod 600" in refused.stderr
    conf.chmod(0o600)
    ok = daemon.faultmgr("remote", "--config", str(conf), "alerts", "--json",
                         env={"FAULTMGR_API_URL": "", "FAULTMGR_API_TOKEN": ""})
    assert ok.returncode == 0, ok.stderr
    assert "alerts" in json.loads(ok.stdout)


def test_unreachable_daemon_is_one_clear_line(daemon: Daemon) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        result = daemon.faultmgr("remote", "status", env={"FAULTMGR_API_URL": url, "FAULTMGR_API_TOKEN": READ,
                                                          "FAULTMGR_REMOTE_CONFIG": os.devnull + ".none"})
    assert result.returncode == 2
    assert result.stderr.strip() == f"faultmgr: cannot reach the faultmgr API at {url}: Connection refused"
    assert result.stdout == ""


def test_bad_token_is_one_line(daemon: Daemon) -> None:
    result = daemon.faultmgr("remote", "alerts", env=env(daemon, "not-a-real-token-at-all"))
    assert result.returncode == 1 and result.stderr.strip() == "faultmgr: the daemon refused (401): invalid token"
