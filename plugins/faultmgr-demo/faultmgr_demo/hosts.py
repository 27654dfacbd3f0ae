"""Where the demo's nodes live: network namespaces on one bridge (root), or this host's loopback (anyone).

Both give the same three things: start a long-running program "on" a node, power a node off (every process
of it killed at once, as a pulled plug) and back on, and tear everything down. Every process started here
carries ``FAULTMGR_DEMO_TAG`` in its environment and runs in its own process group, so :meth:`Hosts.down`
(and a test looking for leftovers) can find all of them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from faultmgr_demo.topology import HEADS, NODES, PREFIX_LEN, Layout

PREFIX = "fmd"
TAG_ENV = "FAULTMGR_DEMO_TAG"


def run(argv: list[str], check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a command and wait; a failure names the command and its error output."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} -> exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def new_tag() -> str:
    """A name prefix unique to this run: the pid (to spot a dead run's leftovers) and a random part."""
    return f"{PREFIX}{os.getpid()}x{secrets.token_hex(2)}"


class Hosts:
    """The processes of one run, by node. Subclasses say how a node runs a program."""

    def __init__(self, layout: Layout, tag: str) -> None:
        self.layout = layout
        self.tag = tag
        self.procs: dict[str, list[subprocess.Popen[bytes]]] = {}

    def up(self) -> None:
        """Create the nodes."""

    def command(self, node: str, argv: list[str]) -> list[str]:
        """``argv`` as run on ``node``."""
        return argv

    def spawn(self, node: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        """Start a long-running program on ``node``; its output is appended to ``log``."""
        env = {**os.environ, TAG_ENV: self.tag, "PYTHONUNBUFFERED": "1"}
        with open(log, "ab") as out:
            proc = subprocess.Popen(self.command(node, argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        self.procs.setdefault(node, []).append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal one program (its whole group) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        for procs in self.procs.values():
            if proc in procs:
                procs.remove(proc)

    def kill_programs(self, node: str) -> None:
        """Every program started on ``node`` is killed (SIGKILL); the node itself stays."""
        for proc in list(self.procs.get(node, [])):
            self.stop(proc)

    def power_off(self, node: str) -> None:
        """Every program of ``node`` dies at once (SIGKILL), as when its power fails."""
        self.kill_programs(node)

    def power_on(self, node: str) -> None:
        """The node is back (its programs are started again by the caller)."""

    def down(self) -> None:
        """Kill every program started here (safe to call twice)."""
        for procs in self.procs.values():
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for procs in self.procs.values():
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        self.procs.clear()
        # A program started in the instant a signal arrived may not be in ``procs``: its tag still names it.
        for pid in tagged_processes(self.tag):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


class LoopbackHosts(Hosts):
    """Every node is this host; nothing to build. Powering a node off kills its programs."""


class NamespaceHosts(Hosts):
    """One network namespace per node, each with an ``eth0`` on a bridge that lives in a ``switch`` namespace
    of its own, so the host's network is never touched."""

    def __init__(self, layout: Layout, tag: str) -> None:
        super().__init__(layout, tag)
        self.created: list[str] = []

    def ns(self, node: str) -> str:
        """The namespace name of ``node``."""
        return f"{self.tag}-{node}"

    def command(self, node: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(node), *argv]

    def exec(self, node: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a short command inside ``node`` and wait for it."""
        return run(self.command(node, list(argv)), check=check)

    def up(self) -> None:
        remove_stale()
        switch = self.ns("switch")
        for node in ("switch", *NODES):
            run(["ip", "netns", "add", self.ns(node)])
            self.created.append(self.ns(node))
            run(["ip", "-n", self.ns(node), "link", "set", "lo", "up"])
        run(["ip", "-n", switch, "link", "add", "br0", "type", "bridge", "stp_state", "0"])
        run(["ip", "-n", switch, "link", "set", "br0", "up"])
        for index, node in enumerate(NODES):
            port = f"p{index}"
            run(["ip", "-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
                 self.ns(node)])
            run(["ip", "-n", switch, "link", "set", port, "master", "br0", "up"])
            self._address(node)

    def _address(self, node: str) -> None:
        ns = self.ns(node)
        run(["ip", "-n", ns, "addr", "add", f"{self.layout.ip(node)}/{PREFIX_LEN}", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])

    def power_off(self, node: str) -> None:
        """Kill every process in the namespace, drop its addresses (the VIP too) and take its link down."""
        self.kill_programs(node)
        _kill_namespace_processes(self.ns(node))
        run(["ip", "-n", self.ns(node), "addr", "flush", "dev", "eth0"], check=False)
        run(["ip", "-n", self.ns(node), "link", "set", "eth0", "down"], check=False)

    def power_on(self, node: str) -> None:
        """The link comes back with the node's own address (not the VIP: a rebooted head does not hold it)."""
        self._address(node)

    def holder(self) -> str | None:
        """Which head carries the VIP now (``None``: nobody)."""
        for head in HEADS:
            out = run(["ip", "-n", self.ns(head), "-o", "addr", "show", "dev", "eth0"], check=False).stdout
            if f" {self.layout.vip}/" in out:
                return head
        return None

    def down(self) -> None:
        super().down()
        for ns in reversed(self.created):
            _kill_namespace_processes(ns)
            run(["ip", "netns", "delete", ns], check=False)
        self.created.clear()


def _environments() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, environment items) of every process we may read, except this one."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                yield int(entry.name), (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue


def tagged_processes(tag: str) -> list[int]:
    """Processes (readable by us) whose environment carries ``FAULTMGR_DEMO_TAG=tag``."""
    needle = f"{TAG_ENV}={tag}".encode()
    return [pid for pid, items in _environments() if needle in items]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(ns: str) -> None:
    for pid in run(["ip", "netns", "pids", ns], check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def demo_namespaces() -> list[str]:
    """Namespaces named like the demo's (of any run)."""
    names = [line.split()[0] for line in run(["ip", "netns", "list"], check=False).stdout.splitlines() if line.split()]
    return [name for name in names if re.match(rf"{PREFIX}\d+x[0-9a-f]+-", name)]


def namespaces_work() -> str | None:
    """``None`` when this process can create a network namespace, else why not (a container without
    CAP_SYS_ADMIN, a kernel without them)."""
    probe = f"{PREFIX}{os.getpid()}xprobe-check"
    made = run(["ip", "netns", "add", probe], check=False)
    if made.returncode != 0:
        return made.stderr.strip() or f"ip netns add: exit {made.returncode}"
    run(["ip", "netns", "delete", probe], check=False)
    return None


def remove_stale_processes() -> list[int]:
    """Kill programs of demo runs that died without cleaning up (their tag names a process that is gone)."""
    pattern = re.compile(rf"{TAG_ENV}={PREFIX}(\d+)x".encode())
    killed = []
    for pid, items in _environments():
        for item in items:
            match = pattern.match(item)
            if match and not _pid_alive(int(match.group(1))):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
    return killed


def remove_stale() -> list[str]:
    """Delete demo namespaces whose run is gone (it was killed before it could clean up)."""
    removed = []
    for name in demo_namespaces():
        match = re.match(rf"{PREFIX}(\d+)x", name)
        if match and not _pid_alive(int(match.group(1))):
            _kill_namespace_processes(name)
            run(["ip", "netns", "delete", name], check=False)
            removed.append(name)
    return removed


def wait_for(predicate: object, timeout: float, interval: float = 0.05) -> bool:
    """Call ``predicate()`` until it is true or ``timeout`` seconds pass; the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():  # type: ignore[operator]
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
