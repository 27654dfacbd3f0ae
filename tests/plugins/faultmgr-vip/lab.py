"""A network lab of namespaces for HA failover tests and benchmarks (needs root).

Four nodes, each a network namespace with an ``eth0`` on one bridge (an L2 segment): ``head-a``, ``head-b``,
``client`` and ``watcher``. The bridge lives in a fifth, "switch" namespace, so the host's own network is
never touched; the heads also share a direct "crossover" link ``hb0`` for a second heartbeat path.
Namespace names carry the creating process id and a random part: parallel runs never clash, and namespaces
left by a run that died are removed by the next one (:func:`remove_stale`).

This module does not import pytest: ``bench/failover.py`` uses it too. ``conftest.py`` wraps it in fixtures.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

NODES = ("head-a", "head-b", "client", "watcher")
HOST = {"head-a": 1, "head-b": 2, "client": 10, "watcher": 20}
PORT_NAME = {"head-a": "pa", "head-b": "pb", "client": "pc", "watcher": "pw"}
NET4, NET6 = "10.77.0", "fd77::"
VIP4, VIP6 = "10.77.0.100/24", "fd77::100/64"
PROGRAMS = Path(__file__).with_name("lab_programs.py")
PREFIX = "fmlab"
CLONE_NEWNET = 0x40000000


def ip4(node: str) -> str:
    """The node's IPv4 address on the shared segment."""
    return f"{NET4}.{HOST[node]}"


def ip6(node: str) -> str:
    """The node's IPv6 address on the shared segment."""
    return f"{NET6}{HOST[node]}"


def run(argv: list[str], check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; on failure the error names the command and its stderr."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} -> exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Delete lab namespaces whose creating process is gone (a run that crashed or was killed)."""
    removed = []
    out = run(["ip", "netns", "list"], check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.match(rf"{PREFIX}(\d+)x[0-9a-f]+-", name)
        if match and not _pid_alive(int(match.group(1))):
            _kill_namespace_processes(name)
            run(["ip", "netns", "delete", name], check=False)
            removed.append(name)
    return removed


def _kill_namespace_processes(ns: str) -> None:
    """SIGKILL every process in a namespace this lab created (``ip netns pids`` lists them by id)."""
    for pid in run(["ip", "netns", "pids", ns], check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


@dataclass
class Lab:
    """One lab: create with :meth:`up`, always end with :meth:`down` (idempotent)."""

    tag: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}x{secrets.token_hex(2)}")
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def ns(self, node: str) -> str:
        """The namespace name of ``node`` (``head-a``, ..., or ``switch``)."""
        return f"{self.tag}-{node}"

    # -- building and tearing down -----------------------------------------------------------------------

    def up(self) -> Lab:
        """Build the namespaces, the bridge and the links; addresses on every node."""
        sw = self.ns("switch")
        for node in ("switch", *NODES):
            run(["ip", "netns", "add", self.ns(node)])
            self.created.append(self.ns(node))
            self.exec(node, "ip", "link", "set", "lo", "up")
        self.exec("switch", "ip", "link", "add", "br0", "type", "bridge", "stp_state", "0")
        self.exec("switch", "ip", "link", "set", "br0", "up")
        for node in NODES:
            ns, port = self.ns(node), PORT_NAME[node]
            run(["ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns])
            run(["ip", "-n", sw, "link", "set", port, "master", "br0", "up"])
            # Addresses must be usable at once (no IPv6 DAD wait); arp_accept stays at Linux's default 0.
            self.exec(node, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
            self.exec(node, "ip", "addr", "add", f"{ip4(node)}/24", "dev", "eth0")
            self.exec(node, "ip", "addr", "add", f"{ip6(node)}/64", "dev", "eth0", "nodad")
            self.exec(node, "ip", "link", "set", "eth0", "up")
        run(["ip", "-n", self.ns("head-a"), "link", "add", "hb0", "type", "veth", "peer", "name", "hb0",
             "netns", self.ns("head-b")])
        for node, host in (("head-a", 1), ("head-b", 2)):
            self.exec(node, "ip", "addr", "add", f"10.78.0.{host}/24", "dev", "hb0")
            self.exec(node, "ip", "link", "set", "hb0", "up")
        return self

    def down(self) -> None:
        """Stop every process started in the lab and delete its namespaces (safe to call twice)."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.procs.clear()
        for ns in reversed(self.created):
            _kill_namespace_processes(ns)
            run(["ip", "netns", "delete", ns], check=False)
        self.created.clear()

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- running things ----------------------------------------------------------------------------------

    def exec(self, node: str, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command inside ``node``'s namespace and wait for it."""
        return run(["ip", "netns", "exec", self.ns(node), *argv], check=check, timeout=timeout)

    def spawn(self, node: str, *argv: str, log: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start a long-running process inside ``node`` (own process group; killed by :meth:`down`).

        Its output goes to ``log`` when given, else to a pipe (``proc.stdout``)."""
        if log is not None:
            with open(log, "ab") as out:
                proc = subprocess.Popen(["ip", "netns", "exec", self.ns(node), *argv], stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True, env=env)
        else:
            proc = subprocess.Popen(["ip", "netns", "exec", self.ns(node), *argv], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
        """Signal a process started with :meth:`spawn` (its whole group) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=10)

    @contextlib.contextmanager
    def entered(self, node: str) -> Iterator[None]:
        """Run the calling thread inside ``node``'s namespace for the ``with`` block (sockets and netlink
        opened there stay there); the thread's own namespace is restored afterwards."""
        libc = ctypes.CDLL(None, use_errno=True)
        with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{self.ns(node)}") as target:
            if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + self.ns(node))
            try:
                yield
            finally:
                if libc.setns(home.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back home")

    # -- faults ------------------------------------------------------------------------------------------

    def cut(self, node: str, dev: str = "eth0") -> None:
        """Pull the cable: the node's interface goes down."""
        self.exec(node, "ip", "link", "set", dev, "down")

    def restore(self, node: str, dev: str = "eth0") -> None:
        """Plug it back in."""
        self.exec(node, "ip", "link", "set", dev, "up")

    def isolate_heads(self, on: bool = True) -> None:
        """Cut the heads off from each other on the segment while both still reach client and watcher
        (bridge port isolation), and cut the crossover link: a split brain."""
        for node in ("head-a", "head-b"):
            self.exec("switch", "bridge", "link", "set", "dev", PORT_NAME[node], "isolated", "on" if on else "off")
        self.exec("head-a", "ip", "link", "set", "hb0", "down" if on else "up")

    # -- looking -----------------------------------------------------------------------------------------

    def mac(self, node: str, dev: str = "eth0") -> str:
        """The interface's MAC address."""
        info = json.loads(self.exec(node, "ip", "-j", "link", "show", dev).stdout)
        return str(info[0]["address"])

    def neigh(self, node: str, address: str, dev: str = "eth0") -> str | None:
        """The MAC ``node`` has for ``address`` in its neighbour table (``None`` when none)."""
        out = self.exec(node, "ip", "-j", "neigh", "show", address.split("/")[0], "dev", dev).stdout
        entries = json.loads(out or "[]")
        return entries[0].get("lladdr") if entries else None

    def has_address(self, node: str, address: str, dev: str = "eth0") -> bool:
        """Does ``node`` carry ``address`` on ``dev``?"""
        info = json.loads(self.exec(node, "ip", "-j", "addr", "show", "dev", dev).stdout)
        want = address.split("/")[0]
        return any(a.get("local") == want for a in info[0].get("addr_info", []))

    def ping(self, src: str, address: str, count: int = 1) -> bool:
        """One ping from ``src`` (fills its neighbour table, too)."""
        cmd = "ping6" if ":" in address else "ping"
        return self.exec(src, cmd, "-c", str(count), "-W", "1", "-i", "0.2", address.split("/")[0],
                         check=False).returncode == 0

    # -- the service on the VIP and the client's view of it ----------------------------------------------

    def serve(self, port: int, nodes: tuple[str, ...] = ("head-a", "head-b")) -> None:
        """Start the TCP service in each head (bound to every address, so the VIP's holder answers)."""
        for node in nodes:
            proc = self.spawn(node, sys.executable, str(PROGRAMS), "serve", str(port), node)
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"service in {node} did not start")

    def poller(self, address: str, port: int, interval_ms: float = 5, timeout_ms: float = 50) -> Poller:
        """Start the client polling ``address:port``; :meth:`Poller.stop` returns what it saw."""
        proc = self.spawn("client", sys.executable, str(PROGRAMS), "poll", address.split("/")[0], str(port),
                          str(interval_ms), str(timeout_ms))
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("poller did not start")
        return Poller(proc)


@dataclass
class Poller:
    """The client's poller; stop it to read the longest outage it saw."""

    proc: subprocess.Popen[str]

    def stop(self) -> dict[str, object]:
        """Stop polling; the report (``longest_gap_ms``, ``answers``, ``changes``, ``last``)."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        return dict(json.loads(out.strip().splitlines()[-1]))


def wait_for(predicate: object, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():  # type: ignore[operator]
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
