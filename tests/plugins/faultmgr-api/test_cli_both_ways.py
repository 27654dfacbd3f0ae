"""One set of commands: ``faultmgr alerts/ack/unack/silence/status/pool/nodes/inject`` through the control socket
and through the HTTP API (``--api``, the environment, a client config file) give the same output; an
unreachable daemon is one clear line either way; odd pool names reach the daemon intact; unknown query
parameters are refused. A real daemon, a real haproxy, real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from daemon_lab import stop_process
from haproxy_lab import HAProxy
from loopback import free_port
from prereq import need_program

from faultmgr.cli.main import build_cli

FAULTMGR = str(Path(sys.executable).with_name("faultmgr"))
ADMIN = "carol-admin-token-0123456789"
READ = "dave-read-token-0123456789ab"

CONFIG = """\
daemon: {{state_dir: {state}, node: head-x, tick: 100ms}}
detectors: {{ext: {{type: external}}}}
receivers: {{log: {{type: log, path: {notify}, group_by: ["..."]}}}}
rules:
  app-down: {{match: {{kind: app.down, source: ext}}, severity: critical, notify: [log]}}
pools:
  web:
    backend: {{type: haproxy, socket: {haproxy_socket}, backend: web}}
    drain_timeout: 1s
    servers:
      - {{name: web1, address: 127.0.0.1, port: {web1}, weight: 10}}
      - {{name: web2, address: 127.0.0.1, port: {web2}, weight: 10}}
api: {{listen: "127.0.0.1:{port}", tokens_file: {tokens}}}
"""



@dataclass
class Result:
    """A command's exit code and output (as ``subprocess.CompletedProcess`` names them)."""

    returncode: int
    stdout: str
    stderr: str


COMMANDS = build_cli()


@dataclass
class Lab:
    """The daemon, how to reach it both ways, and its haproxy."""

    url: str
    config: Path
    workdir: Path
    web2_port: int

    def cli(self, *args: str, api: bool, token: str = ADMIN) -> Result:
        """``faultmgr ARGS`` through the API (``--api URL``) or the control socket (``--api local``), run in
        this process (a new ``faultmgr`` process costs seconds on a loaded machine; what is tested is the same
        command line talking to the same real daemon)."""
        where = ["--api", self.url] if api else ["--api", "local", "-c", str(self.config)]
        result = CliRunner().invoke(COMMANDS, [*args, *where], env={"FAULTMGR_API_TOKEN": token},
                                    catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    def json(self, *args: str, api: bool, token: str = ADMIN) -> Any:
        result = self.cli(*args, "--json", api=api, token=token)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def both(self, *args: str) -> tuple[Any, Any]:
        """The same command's JSON through the socket and through the API."""
        return self.json(*args, api=False), self.json(*args, api=True)


def _wait_for(predicate: Any, what: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout}s:\n{log.read_text()[-3000:]}")


def _api_up(url: str) -> bool:
    try:
        return requests.get(url + "/api/v1/openapi.json", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    need_program("haproxy")
    work = tmp_path_factory.mktemp("cli-both-ways")
    web1, web2, port = free_port(), free_port(), free_port()
    haproxy = HAProxy.write(work, free_port(), {"web1": web1, "web2": web2}, mode="tcp").start()
    sock = haproxy.socket
    tokens = work / "tokens"
    tokens.write_text(f"carol admin {ADMIN}\ndave read {READ}\n")
    tokens.chmod(0o600)
    config = work / "faultmgr.yaml"
    config.write_text(CONFIG.format(state=work / "state", notify=work / "notify.log", haproxy_socket=sock,
                                    web1=web1, web2=web2, port=port, tokens=tokens))
    log = work / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([FAULTMGR, "run", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: proc.poll() is not None or _api_up(url), "API", log)
        assert proc.poll() is None, log.read_text()
        yield Lab(url, config, work, web2)
    finally:
        stop_process(proc, 20)
        haproxy.stop()


def _alert(lab: Lab, subject: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        found[:] = lab.json("alerts", "--subject", subject, api=False)
        return bool(found)
    _wait_for(seen, f"alert for {subject}", lab.workdir / "daemon.log")
    return found[0]


def test_reads_give_the_same_json_and_tables_both_ways(lab: Lab) -> None:
    injected = lab.cli("inject", "app.down", "both-1", "--source", "ext", api=True)  # inject over HTTP too
    assert injected.returncode == 0 and injected.stdout == "injected\n", injected.stderr
    _alert(lab, "both-1")
    local, remote = lab.both("alerts", "--subject", "both-*")
    assert local == remote and [a["subject"] for a in local] == ["both-1"]
    tables = [lab.cli("alerts", "--subject", "both-*", "--severity", "critical", api=api).stdout for api in (0, 1)]
    assert tables[0] == tables[1] and tables[0].splitlines()[0].split()[:5] == ["ID", "STATE", "SEVERITY", "RULE",
                                                                                "SUBJECT"]
    assert tables[0].splitlines()[1].split()[1:5] == ["firing", "critical", "app-down", "both-1"]
    local, remote = lab.both("pool", "show", "web")
    assert local == remote and [s["name"] for s in local["pools"][0]["servers"]] == ["web1", "web2"]
    local, remote = lab.both("nodes")
    assert local == remote and local["node"] == "head-x"
    local, remote = lab.both("status")
    # counters and loop lag move between two calls: the daemon and its components are what must agree
    assert (local["node"], local["pid"], local["components"]) == (remote["node"], remote["pid"],
                                                                  remote["components"])
    status_lines = [lab.cli("status", api=api).stdout.splitlines()[0] for api in (0, 1)]
    assert status_lines[0] == status_lines[1] and status_lines[0].startswith("node head-x (pid ")


def test_ack_unack_and_silences_both_ways(lab: Lab) -> None:
    lab.cli("inject", "app.down", "both-2", "--source", "ext", api=False)
    alert = _alert(lab, "both-2")
    acked = lab.json("ack", str(alert["id"]), "-m", "on it", api=True)
    assert acked["acknowledged_by"] == "carol" and acked["acknowledged_comment"] == "on it"  # the token's name
    unacked = lab.json("unack", str(alert["id"]), api=False)
    assert unacked["acknowledged_by"] is None

    added = lab.json("silence", "add", "subject=both-2", "--for", "10m", "-m", "maintenance", api=True)
    assert added["matchers"] == ["subject=both-2"] and added["author"] == "carol"
    local, remote = lab.both("silence", "list")
    assert local == remote and added["id"] in [s["id"] for s in local]
    tables = [lab.cli("silence", "list", api=api).stdout for api in (False, True)]
    assert tables[0] == tables[1]
    row = next(line for line in tables[0].splitlines() if line.split()[0] == str(added["id"]))
    assert row.split()[1] == "subject=both-2" and row.split()[-2:] == ["carol", "maintenance"]
    short = lab.json("silence", "add", "subject=both-3", "-d", "5m", api=False)
    expired = lab.json("silence", "expire", str(added["id"]), api=False)
    assert expired["id"] == added["id"] and expired["ends_at"] <= time.time()
    assert lab.json("silence", "expire", str(short["id"]), api=True)["id"] == short["id"]
    local, remote = lab.both("silence", "list")
    assert local == remote and not {added["id"], short["id"]} & {s["id"] for s in local}
    everything = lab.json("silence", "list", "--all", api=True)
    assert {added["id"], short["id"]} <= {s["id"] for s in everything}
    history = CliRunner().invoke(COMMANDS, ["history", "--what", "control", "--json", "-n", "50", "-c",
                                            str(lab.config)])
    rows = json.loads(history.stdout)
    assert any(r["who"] == "carol" and r["action"] == "ack" and r["detail"] == "on it" for r in rows)


def test_refusals_are_one_line_both_ways(lab: Lab) -> None:
    for api in (False, True):
        result = lab.cli("ack", "999999", api=api)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "999999" in result.stderr and "Traceback" not in result.stderr
    read_only = lab.cli("silence", "add", "subject=x", api=True, token=READ)
    assert read_only.returncode == 2
    assert read_only.stderr == "faultmgr: token 'dave' has scope 'read'; 'silence.add' needs 'admin'\n"
    assert lab.cli("alerts", api=True, token=READ).returncode == 0
    bad_token = lab.cli("alerts", api=True, token="not-a-token")
    assert bad_token.returncode == 2 and bad_token.stderr.count("\n") == 1
    assert "the token was not accepted" in bad_token.stderr


def test_unreachable_daemon_is_one_clear_line(lab: Lab, tmp_path: Path) -> None:
    closed = free_port()
    result = subprocess.run([FAULTMGR, "alerts", "--api", f"http://127.0.0.1:{closed}"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"faultmgr: cannot reach the faultmgr API at http://127.0.0.1:{closed}: " \
                            f"Connection refused\n"
    rules = tmp_path / "r.yaml"
    rules.write_text(f"daemon: {{state_dir: {tmp_path}}}\n")
    for args in (["silence", "list"], ["pool", "show", "web"]):
        local = run([*args, "-c", str(rules)], {"FAULTMGR_API_URL": None, "FAULTMGR_CLIENT_CONFIG": None})
        assert local.exit_code == 2
        assert local.stderr == f"faultmgr: no daemon is running (no control socket at {tmp_path}/control.sock)\n"


def run(args: list[str], env: dict[str, str | None]) -> Any:
    """The command line in this process with that environment (``None`` unsets a variable)."""
    return CliRunner().invoke(COMMANDS, args, env=env, catch_exceptions=False)


def test_environment_and_client_config_file(lab: Lab, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(READ + "\n")
    token_file.chmod(0o600)
    client = tmp_path / "client.yaml"
    client.write_text(f"url: {lab.url}\ntoken_file: {token_file}\n")
    unset: dict[str, str | None] = {"FAULTMGR_API_URL": None, "FAULTMGR_API_TOKEN": None}
    status = ["status", "--json", "-c", "/nonexistent/rules.yaml"]  # no socket there: the API it must be
    result = run(status, {**unset, "FAULTMGR_CLIENT_CONFIG": str(client)})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["node"] == "head-x"
    token_file.chmod(0o644)
    result = run(status, {**unset, "FAULTMGR_CLIENT_CONFIG": str(client)})
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and str(token_file) in result.stderr
    result = run(status, {"FAULTMGR_CLIENT_CONFIG": None, "FAULTMGR_API_URL": lab.url, "FAULTMGR_API_TOKEN": READ})
    assert result.exit_code == 0 and json.loads(result.stdout)["node"] == "head-x", result.stderr
    client.write_text(f"url: {lab.url}\ntokn: x\n")
    result = run(status, {**unset, "FAULTMGR_CLIENT_CONFIG": str(client)})
    assert result.exit_code == 2 and result.stderr == f"faultmgr: {client}: tokn: unknown key\n"
    missing = run(status, {**unset, "FAULTMGR_CLIENT_CONFIG": str(tmp_path / "nope.yaml")})
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


@pytest.mark.parametrize("name", ["a b", "a/b", "a?b=c#d"])
def test_pool_names_with_spaces_and_slashes_reach_the_daemon_intact(lab: Lab, name: str) -> None:
    answers = [lab.cli("pool", "show", name, api=api) for api in (False, True)]
    for result in answers:
        assert result.returncode == 1, result.stderr
        assert result.stderr == f"faultmgr: no pool {name!r} (declared: web)\n"
    quoted = requests.utils.quote(name, safe="")
    response = requests.get(f"{lab.url}/api/v1/pools/{quoted}", headers={"Authorization": f"Bearer {READ}"},
                            timeout=10)
    assert response.status_code == 404 and response.json()["error"] == f"no pool {name!r}"


def test_pool_drain_and_add_over_the_api(lab: Lab) -> None:
    drained = lab.json("pool", "drain", "web", "web2", "--timeout", "1", api=True)
    assert drained["drained"] is True and "remove web2" in drained["report"]["changes"]
    refused = lab.cli("pool", "add", "web", "web2", "--timeout", "0.5", "--rise", "1", api=True)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "did not pass" in refused.stderr and "pool web is unchanged" in refused.stderr
    with socket.socket() as listener:  # web2 answers now: its TCP check passes
        listener.bind(("127.0.0.1", lab.web2_port))
        listener.listen()
        added = lab.json("pool", "add", "web", "web2", "--timeout", "5", "--rise", "2", "--weight", "10", api=True)
    assert added["rise"] == 2 and added["weight"] == 10 and added["report"]["changes"] == ["add web2 weight 10"]
    local, remote = lab.both("pool", "list")
    assert local == remote
    assert {s["name"]: s["weight"] for s in local["pools"][0]["servers"]} == {"web1": 10, "web2": 10}


@pytest.mark.parametrize("path, unknown", [("/api/v1/alerts?sevrity=critical", "'sevrity'"),
                                           ("/api/v1/events?limit=2&kinds=x&sorce=y", "'kinds', 'sorce'"),
                                           ("/api/v1/silences?al=1", "'al'"), ("/api/v1/pools?x=1", "'x'")])
def test_unknown_query_parameters_are_refused(lab: Lab, path: str, unknown: str) -> None:
    response = requests.get(lab.url + path, headers={"Authorization": f"Bearer {READ}"}, timeout=10)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == 400 and body["error"].startswith("unknown query parameter")
    assert unknown in body["error"]
    assert {d["field"] for d in body["details"]} == {u.strip("'") for u in unknown.split(", ")}
    good = requests.get(lab.url + path.split("?")[0] + "?" + ("limit=2" if "events" in path else ""),
                        headers={"Authorization": f"Bearer {READ}"}, timeout=10)
    assert good.status_code == 200
