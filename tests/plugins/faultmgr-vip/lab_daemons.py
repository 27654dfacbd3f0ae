"""Real faultmgr daemons in the lab: rule files for the heads and the eHB watcher, started with
``faultmgr run -c FILE`` inside their namespaces (used by the scenario tests and bench/failover.py).

The heads beat to each other over the segment (``lan``) and, unless told otherwise, over the crossover link
(``xover``); both also beat to the watcher. Each head's rule: the peer dead -> ``vip.takeover`` with the
split-brain guard (peer dead on every path, client and watcher answer pings). head-a is the preferred holder.

With ``connectivity_failover`` the heartbeat detectors also measure their reach of the ping nodes (client and
watcher, over the segment) and the heads act on it, as Heartbeat's ipfail: the head that lost them releases
the VIP, the other takes it over although it still hears its peer on the crossover link.

With ``arbiter`` the watcher replies to the heads (``reply: true``) with the heads it hears, the heads' heartbeat
detectors name it their ``arbiter`` and their takeovers ``require_arbiter``: a split brain without a fence
leaves the VIP where it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HB_PORT = 6694
PEER = {"head-a": "head-b", "head-b": "head-a"}
XOVER = {"head-a": "10.78.0.1", "head-b": "10.78.0.2"}


def faultmgr_program() -> str:
    """The ``faultmgr`` console script of the running interpreter's environment."""
    return str(Path(sys.executable).with_name("faultmgr"))


def daemon_available() -> str | None:
    """``None`` when ``faultmgr run`` exists, else why not."""
    try:
        proc = subprocess.run([faultmgr_program(), "run", "--help"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return f"faultmgr program: {exc.strerror}"
    return None if proc.returncode == 0 else f"`faultmgr run` not available: {proc.stderr.strip()[-200:]}"


@dataclass
class Timing:
    """Heartbeat timing, ha.cf style."""

    keepalive: float = 0.1
    deadtime: float = 0.3
    warntime: float | None = None
    initdead: float | None = None

    def settings(self) -> dict[str, Any]:
        warn = self.warntime or (self.keepalive + self.deadtime) / 2
        return {"keepalive": self.keepalive, "warntime": warn, "deadtime": self.deadtime,
                "initdead": self.initdead or max(self.deadtime, 2.0)}


@dataclass
class Cluster:
    """Writes the configs and runs the daemons of one lab. ``lab`` is a :class:`faultmgr_vip_lab.Lab`."""

    lab: Any
    workdir: Path
    vip: str
    timing: Timing = field(default_factory=Timing)
    auto_failback: bool = True
    xover: bool = True
    fence: dict[str, list[str]] = field(default_factory=dict)
    garp_count: int = 5
    garp_interval: float = 0.2
    smtp_port: int | None = None
    connectivity_failover: bool = False
    arbiter: bool = False
    procs: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keys = self.workdir / "heartbeat.keys"
        self.keys.write_text(f"1 {os.urandom(24).hex()}\n")
        self.keys.chmod(0o600)

    def config_path(self, node: str) -> Path:
        return self.workdir / node / "faultmgr.yaml"

    def head_config(self, node: str, ip4: Any) -> dict[str, Any]:
        """The rule file of one head."""
        peer = PEER[node]
        paths: list[dict[str, Any]] = [{"type": "udp", "name": "lan", "bind": f"{ip4(node)}:{HB_PORT}",
                                        "targets": [f"{ip4(peer)}:{HB_PORT}", f"{ip4('watcher')}:{HB_PORT}"]}]
        if self.xover:
            paths.append({"type": "udp", "name": "xover", "bind": f"{XOVER[node]}:{HB_PORT}",
                          "targets": [f"{XOVER[peer]}:{HB_PORT}"]})
        takeover: dict[str, Any] = {
            "type": "vip.takeover", "vip": self.vip, "interface": "eth0", "preferred": node == "head-a",
            "auto_failback": self.auto_failback, "garp_count": self.garp_count,
            "garp_interval": self.garp_interval, "require_peer_dead_on_all_paths": True,
            "heartbeat_detector": "hb", "peer": peer, "ping_nodes": [ip4("client"), ip4("watcher")],
            "start_probe_timeout": 0.5, "max_takeovers": 10, "timeout": 60}
        if node in self.fence:
            takeover["fence"] = self.fence[node]
        if self.arbiter:
            takeover.update(require_arbiter=True, arbiter_wait=1.0)
        detector: dict[str, Any] = {"type": "heartbeat", "node": node, "peers": [peer], "key_file": str(self.keys),
                                    "paths": paths, **self.timing.settings()}
        if self.arbiter:
            detector["arbiter"] = "watcher"
        rules: dict[str, Any] = {"peer-dead": {"match": {"kind": "heartbeat.peer.dead", "source": "hb"},
                                               "actions": ["vip"]}}
        if self.connectivity_failover:
            takeover["connectivity_failover"] = True
            detector.update(ping_nodes=[ip4("client"), ip4("watcher")], ping_interval=0.2, ping_timeout=0.2)
            rules["ping-nodes"] = {"match": {"kind": "heartbeat.*.degraded", "source": "hb"}, "actions": ["vip"]}
        return {
            "daemon": {"state_dir": str(self.workdir / node / "state"), "node": node, "log_level": "info",
                       "tick": 0.05},
            "detectors": {"hb": detector},
            "actions": {"vip": takeover},
            "rules": rules,
        }

    def watcher_config(self, ip4: Any) -> dict[str, Any]:
        """The eHB watcher: both heads dead is critical and pages (a log receiver here). With ``arbiter`` it
        replies to both heads."""
        lan: dict[str, Any] = {"type": "udp", "name": "lan", "bind": f"{ip4('watcher')}:{HB_PORT}"}
        ehb: dict[str, Any] = {"type": "ehb", "node": "watcher", "group": "heads", "members": ["head-a", "head-b"],
                               "key_file": str(self.keys), "paths": [lan], **self.timing.settings()}
        if self.arbiter:
            lan["targets"] = [f"{ip4(head)}:{HB_PORT}" for head in ("head-a", "head-b")]
            ehb["reply"] = True
        return {
            "daemon": {"state_dir": str(self.workdir / "watcher" / "state"), "node": "watcher", "tick": 0.05},
            "detectors": {"ehb": ehb},
            "receivers": self.receivers(),
            "rules": {"heads-dead": {"match": {"kind": "ehb.group.dead", "source": "ehb"},
                                     "annotations": {"summary": "both head nodes are dead"},
                                     "notify": list(self.receivers())}},
        }

    def receivers(self) -> dict[str, Any]:
        """A log receiver always; with ``smtp_port``, e-mail to the SMTP server in the watcher too."""
        found: dict[str, Any] = {"page": {"type": "log", "path": str(self.workdir / "watcher" / "pages.jsonl")}}
        if self.smtp_port:
            found["mail"] = {"type": "email", "host": "127.0.0.1", "port": self.smtp_port, "security": "none",
                             "sender": "faultmgr <faultmgr@watcher.example.org>", "to": ["oncall@example.org"]}
        return found

    def start_smtp(self) -> None:
        """A real SMTP server (aiosmtpd, Maildir delivery) on the watcher's loopback, for ``smtp_port``."""
        assert self.smtp_port
        proc = self.lab.spawn("watcher", sys.executable, "-m", "aiosmtpd", "-n", "-l",
                              f"127.0.0.1:{self.smtp_port}", "-c", "aiosmtpd.handlers.Mailbox",
                              str(self.workdir / "watcher" / "maildir"), log=self.workdir / "watcher" / "smtp.log")
        self.procs["smtp"] = proc

    def mails(self) -> list[Any]:
        """Messages the watcher's SMTP server received."""
        import mailbox

        path = self.workdir / "watcher" / "maildir"
        return list(mailbox.Maildir(str(path), create=False)) if (path / "new").exists() else []

    def write(self, ip4: Any) -> None:
        """Write every node's rule file."""
        for node in ("head-a", "head-b", "watcher"):
            (self.workdir / node).mkdir(parents=True, exist_ok=True)
            config = self.watcher_config(ip4) if node == "watcher" else self.head_config(node, ip4)
            self.config_path(node).write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self, node: str) -> subprocess.Popen[str]:
        """Start (or restart) ``node``'s daemon; its log is ``workdir/NODE/faultmgr.log``."""
        proc: subprocess.Popen[str] = self.lab.spawn(node, faultmgr_program(), "run", "-c",
                                                     str(self.config_path(node)),
                                                     log=self.workdir / node / "faultmgr.log")
        self.procs[node] = proc
        return proc

    def kill(self, node: str) -> None:
        """SIGKILL ``node``'s daemon (no clean-up of its own: the address stays where it is)."""
        self.lab.kill(self.procs.pop(node))

    def log(self, node: str) -> str:
        path = self.workdir / node / "faultmgr.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pages(self) -> list[dict[str, Any]]:
        """Notifications the watcher's log receiver wrote."""
        path = self.workdir / "watcher" / "pages.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def power_off_command(lab: Any, node: str) -> list[str]:
    """A fencing command for the lab that acts like an IPMI power-off of ``node``: every process in its
    namespace is killed and its interfaces lose their addresses and go down."""
    ns = lab.ns(node)
    script = (f"ip netns pids {ns} | xargs -r kill -9; "
              f"for dev in eth0 hb0; do ip -n {ns} addr flush dev $dev; ip -n {ns} link set $dev down; done")
    return ["sh", "-c", script]
