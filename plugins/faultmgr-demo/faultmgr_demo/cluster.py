"""The demo cluster's programs: sinks, real servers, HAProxy, the faultmgr daemons and the client, started on
their nodes; and the faults the story injects (a crash, a power failure, forged heartbeats)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from faultmgr_demo import observe
from faultmgr_demo.configs import Configs
from faultmgr_demo.hosts import Hosts, NamespaceHosts, wait_for
from faultmgr_demo.portal import Portal, api_available
from faultmgr_demo.topology import HEADS, REAL_SERVERS, Layout


class DemoError(Exception):
    """Something the demo needs did not come up; the message says what, and where its log is."""


def faultmgr_program() -> str:
    """The ``faultmgr`` console script next to the running interpreter (the same virtualenv)."""
    beside = Path(sys.executable).with_name("faultmgr")
    return str(beside) if beside.exists() else (shutil.which("faultmgr") or "faultmgr")


def program(*args: str) -> list[str]:
    """A :mod:`faultmgr_demo.programs` command line."""
    return [sys.executable, "-m", "faultmgr_demo.programs", *args]


class Cluster:
    """Starts and breaks the cluster's programs; every file of the run lives under ``workdir``."""

    def __init__(self, hosts: Hosts, layout: Layout, workdir: Path) -> None:
        self.hosts = hosts
        self.layout = layout
        self.workdir = workdir
        self.configs = Configs(layout, workdir)
        self.mails = workdir / "mgmt" / "mails.jsonl"
        self.traps = workdir / "mgmt" / "traps.jsonl"
        self.client_log = workdir / "client" / "requests.log"
        self.daemons: dict[str, subprocess.Popen[bytes]] = {}
        self.portals: list[Portal] = []
        #: Each daemon's dashboard as this host's browser reaches it (empty without faultmgr-api).
        self.dashboards: dict[str, str] = {}

    def log(self, node: str, what: str) -> Path:
        """Where ``what`` on ``node`` writes its output."""
        return self.configs.node_dir(node) / f"{what}.log"

    def _ready(self, node: str, what: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
        """Wait for the program's ``ready`` line."""
        log = self.log(node, what)
        if not wait_for(lambda: proc.poll() is not None or "ready" in log.read_text(errors="replace"), timeout):
            raise DemoError(f"{what} on {node} did not start within {timeout:g}s (log: {log})")
        if proc.poll() is not None:
            raise DemoError(f"{what} on {node} exited: {log.read_text(errors='replace')[-500:]}")

    def start_program(self, node: str, what: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start one of :mod:`faultmgr_demo.programs` on ``node`` and wait until it serves."""
        proc = self.hosts.spawn(node, argv, self.log(node, what))
        self._ready(node, what, proc)
        return proc

    # -- bringing the cluster up ---------------------------------------------------------------------------

    def start_sinks(self) -> None:
        """The pager gateway (SMTP) and the management station (SNMP traps) on ``mgmt``."""
        lay = self.layout
        self.configs.node_dir("mgmt")
        self.start_program("mgmt", "smtp", program("smtp", lay.ip("mgmt"), str(lay.port("smtp")), str(self.mails)))
        self.start_program("mgmt", "traps", self.station_command())

    def station_command(self) -> list[str]:
        """net-snmp's snmptrapd when installed (its output stamped into JSON lines), else the demo's own."""
        lay = self.layout
        snmptrapd = shutil.which("snmptrapd")
        if snmptrapd is None:
            return program("traps", lay.ip("mgmt"), str(lay.port("traps")), str(self.traps))
        conf = self.configs.node_dir("mgmt") / "snmptrapd.conf"
        conf.write_text("authCommunity log public\ndoNotRetainNotificationLogs yes\n")
        daemon = [snmptrapd, "-f", "-C", "-c", str(conf), "-Lo", "-m", "", "-On", "-F", "TRAP %b\\t%v\\n",
                  f"udp:{lay.ip('mgmt')}:{lay.port('traps')}"]
        stamper = program("stamp", str(self.traps))
        return ["sh", "-c", f"{shlex.join(daemon)} | {shlex.join(stamper)}"]

    def start_real_server(self, name: str) -> None:
        """A real server: an HTTP server answering with its name."""
        self.configs.node_dir(name)
        self.start_program(name, "http", program("http", name, self.layout.ip(name),
                                                 str(self.layout.port("web:" + name))))

    def start_haproxy(self, head: str) -> None:
        """HAProxy on ``head`` (foreground), ready once its admin socket exists."""
        socket = self.configs.haproxy_socket(head)
        socket.unlink(missing_ok=True)
        proc = self.hosts.spawn(head, ["haproxy", "-db", "-f", str(self.configs.haproxy_config(head))],
                                self.log(head, "haproxy"))
        if not wait_for(lambda: proc.poll() is not None or socket.exists(), 15):
            raise DemoError(f"haproxy on {head} did not open its socket (log: {self.log(head, 'haproxy')})")
        if proc.poll() is not None:
            raise DemoError(f"haproxy on {head} exited: {self.log(head, 'haproxy').read_text()[-500:]}")

    def start_service(self, head: str) -> None:
        """What the VIP serves on ``head``: HAProxy in front of the pool, or (without HAProxy) a plain HTTP
        server answering with the head's name."""
        if self.layout.pool:
            self.start_haproxy(head)
            return
        host = "127.0.0.1" if self.layout.dry_run else "0.0.0.0"
        self.start_program(head, "service", program("http", head, host, str(self.layout.port("service:" + head))))

    def start_daemons(self, *nodes: str) -> None:
        """Start ``faultmgr run`` on each node at once (they take seconds to import their plugins), then wait
        until each has opened its control socket."""
        for node in nodes:
            argv = [faultmgr_program(), "run", "-c", str(self.configs.rule_file(node))]
            if self.layout.dry_run:
                argv.append("--dry-run")
            (self.configs.state_dir(node) / "control.sock").unlink(missing_ok=True)
            self.daemons[node] = self.hosts.spawn(node, argv, self.log(node, "faultmgr"))
        for node in nodes:
            self._daemon_ready(node)

    def _daemon_ready(self, node: str) -> None:
        socket = self.configs.state_dir(node) / "control.sock"
        proc = self.daemons[node]
        if not wait_for(lambda: proc.poll() is not None or socket.exists(), 60):
            raise DemoError(f"faultmgr on {node} did not start (log: {self.log(node, 'faultmgr')})")
        if proc.poll() is not None:
            raise DemoError(f"faultmgr on {node} exited: {self.log(node, 'faultmgr').read_text()[-800:]}")

    def start_vip_stand_in(self) -> None:
        """Loopback story: the VIP is a forwarder to the service of the head named in the holder file."""
        ports = {head: self.layout.port("service:" + head) for head in HEADS}
        self.configs.node_dir("vip")
        self.start_program("vip", "vipproxy", program("vipproxy", str(self.layout.port("service")),
                                                      str(self.configs.holder_file), json.dumps(ports)))

    def start_client(self) -> None:
        """The client: asks the VIP every 20 ms, 250 ms allowed per request."""
        self.configs.node_dir("client")
        self.start_program("client", "poller", program("poll", self.layout.service_url(), "20", "250",
                                                       str(self.client_log)))

    def holder(self) -> str | None:
        """The head holding the VIP: from the kernel in the lab, from the stand-in's file on loopback."""
        if isinstance(self.hosts, NamespaceHosts):
            return self.hosts.holder()
        try:
            return self.configs.holder_file.read_text().strip() or None
        except OSError:
            return None

    def up(self, step: object = None) -> None:
        """Everything, in dependency order; ``step(text)`` is told what is starting."""
        say = step if callable(step) else (lambda text: None)
        say("building the nodes")
        self.hosts.up()
        self.configs.write(api=api_available())
        say("starting the pager gateway (SMTP) and the management station (SNMP traps)")
        self.start_sinks()
        say("starting three real servers")
        for name in REAL_SERVERS:
            self.start_real_server(name)
        say("starting HAProxy on both heads" if self.layout.pool else "starting the service on both heads")
        for head in HEADS:
            self.start_service(head)
        if self.layout.dry_run:
            self.start_vip_stand_in()
        say("starting faultmgr on the eHB watcher and both heads")
        self.start_daemons("watcher", *HEADS)
        self.open_dashboards()
        say("waiting for head-a to hold the VIP")
        if not wait_for(lambda: self.holder() == "head-a", 30):
            raise DemoError(f"head-a did not take the VIP at start (log: {self.log('head-a', 'faultmgr')})")
        say("starting the client")
        self.start_client()
        if not wait_for(self._client_served, 30):
            raise DemoError(f"the client gets no answer from the VIP (log: {self.client_log})")
        say("waiting for the watcher to hear both heads")
        if not wait_for(self._watcher_hears_both, 30):
            raise DemoError(f"the eHB watcher does not hear both heads (log: {self.log('watcher', 'faultmgr')})")

    def open_dashboards(self) -> None:
        """Make each daemon's dashboard reachable from this host (a portal into each namespace)."""
        if self.configs.api_token is None:
            return
        for node in (*HEADS, "watcher"):
            port = self.layout.port("api:" + node)
            if isinstance(self.hosts, NamespaceHosts):
                portal = Portal(self.hosts.ns(node), port)
                self.portals.append(portal)
                self.dashboards[node] = portal.url
            else:
                self.dashboards[node] = f"http://127.0.0.1:{port}/"

    def _watcher_hears_both(self) -> bool:
        heard = {e["subject"] for e in observe.events(self.configs.state_dir("watcher"), 0, "ehb.member.up")}
        return heard >= set(HEADS)

    def _client_served(self) -> bool:
        try:
            return " 1 " in self.client_log.read_text()
        except OSError:
            return False

    # -- faults --------------------------------------------------------------------------------------------

    def crash_real_server(self, name: str) -> None:
        """The real server's HTTP process is killed (SIGKILL); the node stays up."""
        self.hosts.kill_programs(name)

    def power_off(self, node: str) -> None:
        """The node dies at once: every process SIGKILLed, its link down (the address it held stays dead)."""
        self.daemons.pop(node, None)
        self.hosts.power_off(node)

    def power_on_head(self, head: str) -> None:
        """The head boots again: its link, HAProxy and faultmgr come back (it does not hold the VIP)."""
        self.hosts.power_on(head)
        self.start_service(head)
        self.start_daemons(head)

    def forge_heartbeats(self, count: int = 20) -> None:
        """From the client's node: heartbeats claiming to be head-a, signed with a key nobody has."""
        targets = [self.layout.hb(node) for node in (*HEADS, "watcher")]
        proc = self.hosts.spawn("client", program("forge", "head-a", str(count), *targets),
                                self.log("client", "forge"))
        proc.wait(timeout=30)

    def down(self) -> None:
        """Stop everything and remove the nodes."""
        self.daemons.clear()
        for portal in self.portals:
            portal.close()
        self.portals.clear()
        self.hosts.down()
