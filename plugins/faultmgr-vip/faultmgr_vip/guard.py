"""What must be true before a node takes an address over: the split-brain guard and the circuit breaker.

The guard gathers quorum evidence (the peer is dead on every heartbeat path, the ping nodes answer) and can
fence the peer (power it off) before the address moves. The circuit breaker stops automatic takeover after
too many in a window: a VIP ping-ponging between heads is worse than one that stays put while a human looks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0


@runtime_checkable
class PeerWatcher(Protocol):
    """What the guard asks of the heartbeat detector (faultmgr-heartbeat implements it)."""

    def peer_state(self, name: str) -> Any:
        """The peer's state (``"alive"``, ``"warn"``, ``"dead"``, ... or an enum of those)."""

    def paths_alive(self, name: str) -> Any:
        """The heartbeat paths that still deliver from the peer (a collection, or a count)."""


def peer_dead_on_all_paths(watcher: PeerWatcher, peer: str) -> tuple[bool, str]:
    """(verdict, reason): the peer counts as dead only when its state says dead and no path delivers."""
    state = watcher.peer_state(peer)
    name = str(getattr(state, "value", state)).lower()
    alive = watcher.paths_alive(peer)
    count = int(alive) if isinstance(alive, int) else len(alive) if alive is not None else 0
    if not name.endswith("dead"):
        return False, f"peer {peer} is {name}, not dead"
    if count:
        return False, f"peer {peer} still heard on {count} path(s): {alive}"
    return True, f"peer {peer} dead on all paths"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


async def icmp_echo(address: str, timeout: float) -> bool:
    """One ICMP echo to an IPv4 ``address``; true when the matching reply came back in time (raw socket)."""
    loop = asyncio.get_running_loop()
    ident, seq = os.getpid() & 0xFFFF, int(time.monotonic() * 1000) & 0xFFFF
    payload = b"faultmgr-vip-guard"
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    packet = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, _checksum(header + payload), ident, seq) + payload
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setblocking(False)
        sock.connect((address, 0))
        sock.send(packet)
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 1500), left)
            except TimeoutError:
                return False
            ihl = (data[0] & 0x0F) * 4
            kind, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if kind == ICMP_ECHO_REPLY and rid == ident and rseq == seq:
                return True
    return False


async def tcp_connect(host: str, port: int, timeout: float) -> bool:
    """True when a TCP connection to host:port opens (or is actively refused: the host is up) in time."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except ConnectionRefusedError:
        return True
    except (TimeoutError, OSError):
        return False
    writer.close()
    return True


async def reachable(node: str, timeout: float) -> bool:
    """``"10.0.0.5"`` is pinged (ICMP echo); ``"10.0.0.5:22"`` or ``"[fd00::5]:22"`` is a TCP connect."""
    host, port = split_node(node)
    if port is not None:
        return await tcp_connect(host, port, timeout)
    if ipaddress.ip_address(host).version == 6:
        return await tcp_connect(host, 7, timeout)
    return await icmp_echo(host, timeout)


def split_node(node: str) -> tuple[str, int | None]:
    """``"host"``, ``"host:port"`` or ``"[v6]:port"`` -> (host, port or None)."""
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if node.count(":") == 1:
        host, port = node.split(":")
        return host, int(port)
    return node, None


async def unreachable_nodes(nodes: Iterable[str], timeout: float) -> list[str]:
    """The nodes that did not answer, all asked at once."""
    nodes = list(nodes)
    answers = await asyncio.gather(*(reachable(n, timeout) for n in nodes), return_exceptions=True)
    return [n for n, ok in zip(nodes, answers, strict=True) if ok is not True]


async def run_fence(argv: list[str], timeout: float) -> tuple[bool, str]:
    """Run the fencing command (its own process group, killed whole on timeout); exit 0 is success."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return False, f"fence {argv[0]}: {exc.strerror}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return False, f"fence timed out after {timeout:g}s"
    last = out.decode("utf-8", "replace").strip().splitlines()[-1:]
    detail = f"fence exit {proc.returncode}" + (f": {last[0][:200]}" if last else "")
    return proc.returncode == 0, detail


class CircuitBreaker:
    """Opens when more than ``limit`` takeovers happened within ``window`` seconds.

    Takeover times are kept in the durable store when there is one, so a daemon restarted in a loop still
    sees the ping-pong it is part of.
    """

    def __init__(self, limit: int, window: float, store: Any = None, key: str = "takeovers") -> None:
        self.limit = limit
        self.window = window
        self.store = store
        self.key = key
        saved = store.get("faultmgr-vip", key, []) if store is not None else []
        self.times: deque[float] = deque(float(t) for t in saved)

    def _trim(self, now: float) -> None:
        while self.times and self.times[0] <= now - self.window:
            self.times.popleft()

    def is_open(self, now: float | None = None) -> bool:
        """True when a further takeover would exceed the limit."""
        self._trim(time.time() if now is None else now)
        return len(self.times) >= self.limit

    def record(self, now: float | None = None) -> None:
        """Count one takeover."""
        now = time.time() if now is None else now
        self._trim(now)
        self.times.append(now)
        if self.store is not None:
            self.store.set("faultmgr-vip", self.key, list(self.times))

    def status(self) -> dict[str, Any]:
        return {"open": self.is_open(), "recent_takeovers": len(self.times), "limit": self.limit,
                "window_s": self.window}
