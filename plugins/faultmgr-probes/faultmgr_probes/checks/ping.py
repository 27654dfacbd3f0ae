"""``ping``: the host answers an ICMP echo request.

Two socket kinds: ``SOCK_DGRAM`` ICMP ("ping sockets", allowed to the groups in
``net.ipv4.ping_group_range``, no privilege needed) and ``SOCK_RAW`` (root or CAP_NET_RAW). ``auto`` tries
the first and falls back to the second.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from functools import partial
from typing import Literal

from pydantic import Field

from faultmgr.reachability import checksum
from faultmgr_probes.checks.rawtcp import numeric_family
from faultmgr_probes.result import CheckResult, ProbeFn, Status, describe_error
from faultmgr_probes.target import TargetBase

_ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}


class PingTarget(TargetBase):
    """A host that must answer ICMP echo."""

    type: Literal["ping"] = Field(description="check type")
    socket_kind: Literal["auto", "dgram", "raw"] = Field(
        default="auto", description="ICMP socket: dgram (ping_group_range), raw (CAP_NET_RAW) or auto")
    payload_size: int = Field(default=16, ge=0, le=1400, description="bytes of echo data")


def echo_request(family: socket.AddressFamily, ident: int, seq: int, payload: bytes) -> bytes:
    """An echo request; ICMPv6's checksum is left to the kernel (it covers a pseudo-header)."""
    kind = _ECHO_REQUEST[family]
    header = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    if family == socket.AF_INET:
        header = struct.pack("!BBHHH", kind, 0, checksum(header + payload), ident, seq)
    return header + payload


def open_icmp(family: socket.AddressFamily, kind: str) -> tuple[socket.socket, bool]:
    """An ICMP socket of ``kind`` -> (socket, is_raw). Raises PermissionError when neither is allowed."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    if kind in ("auto", "dgram"):
        try:
            return socket.socket(family, socket.SOCK_DGRAM, proto), False
        except PermissionError:
            if kind == "dgram":
                raise
    return socket.socket(family, socket.SOCK_RAW, proto), True


def match_reply(data: bytes, family: socket.AddressFamily, raw: bool, ident: int, seq: int) -> bool:
    """True when ``data`` is the echo reply to our request."""
    if raw and family == socket.AF_INET:
        data = data[(data[0] & 0x0F) * 4:]  # a raw IPv4 socket hands over the IP header too
    if len(data) < 8:
        return False
    kind, _code, _sum, rid, rseq = struct.unpack("!BBHHH", data[:8])
    # A ping socket rewrites the identifier to its port and only delivers our own replies.
    return kind == _ECHO_REPLY[family] and rseq == seq and (rid == ident or not raw)


async def check_ping(target: PingTarget, timeout: float) -> CheckResult:
    """One echo request, one reply."""
    family = numeric_family(target.host)
    loop = asyncio.get_running_loop()
    if family is None:
        infos = await loop.getaddrinfo(target.host, None, type=socket.SOCK_DGRAM)
        if not infos:
            return CheckResult.critical(f"cannot resolve {target.host}")
        family, address = infos[0][0], str(infos[0][4][0])
    else:
        address = target.host
    try:
        sock, raw = open_icmp(family, target.socket_kind)
    except PermissionError:
        return CheckResult(Status.UNKNOWN,
                           "no ICMP socket allowed: needs CAP_NET_RAW or net.ipv4.ping_group_range")
    ident, seq = os.getpid() & 0xFFFF, int.from_bytes(os.urandom(2), "big")
    with sock:
        sock.setblocking(False)
        try:
            await loop.sock_sendto(sock, echo_request(family, ident, seq, os.urandom(target.payload_size)),
                                   (address, 0))
            while True:
                data = await loop.sock_recv(sock, 2048)
                if match_reply(data, family, raw, ident, seq):
                    return CheckResult.ok("echo reply", socket="raw" if raw else "dgram")
        except OSError as exc:
            return CheckResult.critical(describe_error(exc))


def build(target: PingTarget) -> ProbeFn:
    """The prepared check for ``target``."""
    return partial(check_ping, target)
