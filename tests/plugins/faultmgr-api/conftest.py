"""A real daemon (``faultmgr run`` as a subprocess) with the ``api:`` section on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from daemon_lab import stop_process
from haproxy_lab import HAProxy
from loopback import free_port
from prereq import need_program
from prometheus_client.parser import text_string_to_metric_families

ADMIN = "alice-admin-token-0123456789"
READ = "bob-read-token-0123456789abc"
FAULTMGR = str(Path(sys.executable).with_name("faultmgr"))
STARTUP_S = 30.0


CONFIG = """\
# the timing every heartbeat detector below shares (an x- key holds YAML anchors, as Compose files do)
x-hb: &hb
  key_file: {keys}
  keepalive: 200ms
  warntime: 1s
  deadtime: 2s
  initdead: 4s
  realtime: false
daemon:
  state_dir: {state}
  node: head-a
  tick: 100ms
detectors:
  ext:
    type: external
  other:
    type: external
    kinds: ["other.*"]
  # two heartbeat nodes in one daemon, beating each other over loopback on two paths
  hb:
    type: heartbeat
    node: head-a
    peers: [head-b]
    <<: *hb
    paths:
      - {{type: udp, name: lan, bind: "127.0.0.1:{hb_a1}", targets: ["127.0.0.1:{hb_b1}"]}}
      - {{type: udp, name: backup, bind: "127.0.0.1:{hb_a2}", targets: ["127.0.0.1:{hb_b2}"]}}
  hb-b:
    type: heartbeat
    node: head-b
    peers: [head-a]
    <<: *hb
    paths:
      - {{type: udp, name: lan, bind: "127.0.0.1:{hb_b1}", targets: ["127.0.0.1:{hb_a1}"]}}
      - {{type: udp, name: backup, bind: "127.0.0.1:{hb_b2}", targets: ["127.0.0.1:{hb_a2}"]}}
  # head-c is no daemon: a test beats as head-c (real signed packets) to show a VIP held by a peer
  hb-c:
    type: heartbeat
    node: head-a
    peers: [head-c]
    <<: *hb
    paths:
      - {{type: udp, name: lan, bind: "127.0.0.1:{hb_c}", targets: ["127.0.0.1:{hb_c_peer}"]}}
  # a TCP connect check of the API's own port: passes every time, so it never emits an event
  probes:
    type: probe
    checkinterval: 200ms
    targets:
      - {{name: api-port, type: connect, host: 127.0.0.1, port: {port}}}
actions:
  # its status (held or not, read at start) is what the nodes view shows; the vip-peer-lost rule runs it, and
  # its split-brain guard always refuses (ext is no heartbeat detector): the address is never added
  vip-web:
    type: vip.takeover
    vip: 127.0.0.77/32
    interface: lo
    require_peer_dead_on_all_paths: true
    heartbeat_detector: ext
  run-true:
    type: command
    argv: ["/bin/true"]
  run-false:
    type: command
    argv: ["/bin/false"]
receivers:
  ops-log:
    type: log
    path: {notify}
    group_by: ["..."]
rules:
  app-down:
    match: {{kind: app.down, source: ext}}
    severity: critical
    notify: [ops-log]
    annotations: {{summary: "application down on {{subject}}"}}
  disk-full:
    match: {{kind: disk.full}}
    severity: warning
    notify: [ops-log]
  job-failed:
    match: {{kind: job.failed}}
    severity: warning
    actions: [run-true, run-false]
  vip-peer-lost:
    match: {{kind: vip.peer.lost}}
    severity: critical
    actions: [vip-web]
pools:
  web:
    backend: {{type: haproxy, socket: {haproxy_socket}, backend: web}}
    servers:
      - {{name: web1, address: 127.0.0.1, port: {web1}, weight: 10}}
      - {{name: web2, address: 127.0.0.1, port: {web2}, weight: 10}}
api:
  listen: 127.0.0.1:{port}
  tokens_file: {tokens}
  max_body_bytes: 4096
"""


class Samples(dict[tuple[str, tuple[tuple[str, str], ...]], float]):
    """Prometheus samples by (name, sorted labels)."""

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 when it is not exported (yet)."""
        return self.get((name, tuple(sorted(labels.items()))), 0.0)


@dataclass
class Daemon:
    """A running daemon and how to reach it."""

    ADMIN = ADMIN
    READ = READ
    url: str
    config: Path
    workdir: Path
    proc: subprocess.Popen[bytes]
    log: Path
    haproxy: HAProxy
    session: requests.Session = field(default_factory=requests.Session)

    def metrics(self) -> Samples:
        """``/metrics`` scraped (no token: the shared daemon leaves it open) and parsed."""
        response = self.get("/metrics", token=None)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/plain")
        return Samples({(s.name, tuple(sorted(s.labels.items()))): s.value
                        for family in text_string_to_metric_families(response.text) for s in family.samples})

    def metrics_after(self, before: Samples, name: str, timeout: float = 15, **labels: str) -> Samples:
        """The first scrape in which sample ``name{labels}`` is above its value in ``before``."""
        deadline = time.monotonic() + timeout
        while (after := self.metrics()).value(name, **labels) <= before.value(name, **labels):
            assert time.monotonic() < deadline, f"{name}{labels} did not grow within {timeout}s"
            time.sleep(0.1)
        return after

    def get(self, path: str, token: str | None = READ, **kw: Any) -> requests.Response:
        return self.session.get(self.url + path, headers=self._auth(token), timeout=10, **kw)

    def post(self, path: str, body: Any = None, token: str | None = ADMIN, **kw: Any) -> requests.Response:
        return self.session.post(self.url + path, json=body, headers=self._auth(token), timeout=10, **kw)

    def delete(self, path: str, token: str | None = ADMIN) -> requests.Response:
        return self.session.delete(self.url + path, headers=self._auth(token), timeout=10)

    @staticmethod
    def _auth(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def inject(self, subject: str, kind: str = "app.down", severity: str = "critical", **extra: Any) -> None:
        response = self.post("/api/v1/events", {"kind": kind, "source": "ext", "subject": subject,
                                                "severity": severity, "message": f"{kind} on {subject}", **extra})
        assert response.status_code == 202, response.text

    def wait_alert(self, subject: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alerts = self.get("/api/v1/alerts", params={"subject": subject}).json()["alerts"]
            if alerts:
                return dict(alerts[0])
            time.sleep(0.05)
        raise AssertionError(f"no alert for {subject} within {timeout}s; log:\n{self.log.read_text()[-3000:]}")

    def beat_as(self, node: str, detector: str, status: dict[str, Any], seconds: float) -> None:
        """Beat as ``node`` (signed with the suite's key) to ``detector``'s first path for ``seconds``."""
        from faultmgr_heartbeat.auth import load_key_file
        from faultmgr_heartbeat.protocol import Packet, encode

        settings = yaml.safe_load(self.config.read_text())["detectors"][detector]
        host, port = settings["paths"][0]["bind"].rsplit(":", 1)
        key = load_key_file(Path(settings["key_file"])).send_key
        generation = time.time_ns() // 1000  # above any earlier run's, as a restarted node's would be
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            deadline, seq = time.monotonic() + seconds, 0
            while time.monotonic() < deadline:
                seq += 1
                sock.sendto(encode(Packet(node, generation, seq, time.time(), status), key), (host, int(port)))
                time.sleep(0.1)

    def faultmgr(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([FAULTMGR, *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, **(env or {})})




def start_haproxy(workdir: Path, web1: int, web2: int) -> HAProxy:
    """A real haproxy whose backend the ``web`` pool reads (web2 starts at half its declared weight;
    web3 is haproxy's own)."""
    servers: dict[str, int | tuple[int, int]] = {"web1": (web1, 10), "web2": (web2, 5), "web3": (web2, 3)}
    return HAProxy.write(workdir, free_port(), servers).start()


def start_daemon(workdir: Path) -> Daemon:
    workdir.mkdir(parents=True, exist_ok=True)
    web1, web2 = free_port(), free_port()
    haproxy = start_haproxy(workdir, web1, web2)
    tokens = workdir / "tokens"
    tokens.write_text(f"# name scope token\nalice admin {ADMIN}\nbob read {READ}\n")
    tokens.chmod(0o600)
    keys = workdir / "heartbeat.keys"
    keys.write_text("k1 " + "5a" * 32 + "\n")
    keys.chmod(0o600)
    port = free_port()
    config = workdir / "faultmgr.yaml"
    config.write_text(CONFIG.format(state=workdir / "state", notify=workdir / "notify.log", port=port,
                                    tokens=tokens, haproxy_socket=haproxy.socket, web1=web1, web2=web2, keys=keys,
                                    **{name: free_port() for name in ("hb_a1", "hb_a2", "hb_b1", "hb_b2", "hb_c",
                                                                      "hb_c_peer")}))
    log = workdir / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([FAULTMGR, "run", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
    daemon = Daemon(f"http://127.0.0.1:{port}", config, workdir, proc, log, haproxy)
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"faultmgr run exited {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(daemon.url + "/api/v1/openapi.json", timeout=1).status_code == 200:
                return daemon
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"API did not come up in {STARTUP_S}s:\n{log.read_text()}")


def stop_daemon(daemon: Daemon) -> None:
    daemon.session.close()
    daemon.haproxy.stop()
    stop_process(daemon.proc, 20)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon shared by the suite (start-up takes a couple of seconds); tests use distinct subjects."""
    need_program("haproxy")
    running = start_daemon(tmp_path_factory.mktemp("faultmgr-api"))
    yield running
    stop_daemon(running)
