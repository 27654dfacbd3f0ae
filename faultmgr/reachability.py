"""Is a node reachable? One ICMP echo or one TCP connect per node, all asked at once.

Shared by the heartbeat detector (its ``ping_nodes``: this node's connectivity, carried in its beats, as
Heartbeat's ``ping`` nodes for ipfail) and the VIP takeover's split-brain guard. Raw ICMP needs root or
CAP_NET_RAW; a node given as ``host:port`` is probed with a TCP connect instead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct
import time
from collections.abc import Iterable

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of an ICMPv4 message."""
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
    packet = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, checksum(header + payload), ident, seq) + payload
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
