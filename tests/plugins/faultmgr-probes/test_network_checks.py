"""connect, dns, smtp, sip and ping checks against real servers started here."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from faultmgr_probes.checks.connect import ConnectTarget, check_connect
from faultmgr_probes.checks.dns import QTYPES, DnsTarget, check_dns
from faultmgr_probes.checks.ping import PingTarget, check_ping
from faultmgr_probes.checks.sip import SipTarget, check_sip
from faultmgr_probes.checks.smtp import SmtpTarget, check_smtp
from prereq import need_program, need_root


async def test_connect(unused_tcp_port: int) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        assert (await check_connect(ConnectTarget(name="c", type="connect", port=port), 2)).passed
        named = ConnectTarget(name="c", type="connect", host="localhost", port=port)
        assert (await check_connect(named, 2)).passed
    result = await check_connect(ConnectTarget(name="c", type="connect", port=unused_tcp_port), 2)
    assert not result.passed and result.reason == "connection refused"


class DnsResponder(asyncio.DatagramProtocol):
    """Answers A queries for known names from a table; NXDOMAIN otherwise."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        ident = data[:2]
        pos, labels = 12, []
        while data[pos]:
            labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
            pos += 1 + data[pos]
        question = data[12:pos + 5]
        name = ".".join(labels)
        address = self.table.get(name)
        assert self.transport is not None
        if address is None:
            self.transport.sendto(ident + struct.pack("!HHHHH", 0x8183, 1, 0, 0, 0) + question, addr)
            return
        answer = b"\xc0\x0c" + struct.pack("!HHIH", QTYPES["A"], 1, 60, 4) + ipaddress.ip_address(address).packed
        self.transport.sendto(ident + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + question + answer, addr)


@pytest.fixture
async def dns_port() -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: DnsResponder({"www.example.test": "192.0.2.7"}),
                                                       local_addr=("127.0.0.1", 0))
    yield transport.get_extra_info("sockname")[1]
    transport.close()


async def test_dns(dns_port: int) -> None:
    base = {"name": "d", "type": "dns", "port": dns_port}
    result = await check_dns(DnsTarget(**base, query="www.example.test"), 2)
    assert result.passed and result.payload["addresses"] == ["192.0.2.7"]
    assert (await check_dns(DnsTarget(**base, query="www.example.test", expect_address="192.0.2.7"), 2)).passed
    wrong = await check_dns(DnsTarget(**base, query="www.example.test", expect_address="192.0.2.8"), 2)
    assert not wrong.passed and "not 192.0.2.8" in wrong.reason
    missing = await check_dns(DnsTarget(**base, query="nope.example.test"), 2)
    assert not missing.passed and missing.reason == "DNS NXDOMAIN"


async def test_dns_no_server_times_out(unused_udp_port: int, make_detector) -> None:  # type: ignore[no-untyped-def]
    detector = make_detector(targets=[{"name": "d", "type": "dns", "port": unused_udp_port, "query": "x.test"}],
                             checktimeout="300ms")
    result = await detector.run_check(detector.checks[0])
    # Loopback reports the closed port at once (ICMP port unreachable); elsewhere it would time out.
    assert not result.passed and result.reason in ("connection refused", "timed out after 300ms")


class _Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


@pytest.fixture
def smtp_port(unused_tcp_port: int) -> Iterator[int]:
    controller = Controller(_Sink(), hostname="127.0.0.1", port=unused_tcp_port)
    controller.start()
    yield unused_tcp_port
    controller.stop()


async def test_smtp(smtp_port: int, unused_tcp_port_factory) -> None:  # type: ignore[no-untyped-def]
    result = await check_smtp(SmtpTarget(name="m", type="smtp", port=smtp_port, helo_name="probe.test"), 3)
    assert result.passed and result.payload["code"] == 250

    async def busy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"554 5.3.2 too busy\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(busy, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        refused = await check_smtp(SmtpTarget(name="m", type="smtp", port=port), 3)
    assert not refused.passed and refused.reason.startswith("banner 554")


class SipResponder(asyncio.DatagramProtocol):
    """Answers OPTIONS with 100 Trying, then a final response."""

    def __init__(self, final: str) -> None:
        self.final = final
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        lines = data.decode().split("\r\n")
        assert lines[0].startswith("OPTIONS sip:")
        copied = [line for line in lines if line.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")]
        assert self.transport is not None
        for status in ("100 Trying", self.final):
            reply = "\r\n".join([f"SIP/2.0 {status}", *copied, "Content-Length: 0", "", ""])
            self.transport.sendto(reply.encode(), addr)


async def _sip_server(final: str) -> tuple[asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: SipResponder(final), local_addr=("127.0.0.1", 0))
    return transport, transport.get_extra_info("sockname")[1]


async def test_sip() -> None:
    transport, port = await _sip_server("200 OK")
    try:
        result = await check_sip(SipTarget(name="s", type="sip", port=port), 2)
        assert result.passed and result.payload["status"] == 200
    finally:
        transport.close()
    transport, port = await _sip_server("503 Service Unavailable")
    try:
        assert (await check_sip(SipTarget(name="s", type="sip", port=port), 2)).passed  # any final answer
        strict = await check_sip(SipTarget(name="s", type="sip", port=port, expect_status=[200]), 2)
        assert not strict.passed and strict.reason == "SIP 503 Service Unavailable"
    finally:
        transport.close()


async def test_ping_raw_as_root() -> None:
    need_root()
    result = await check_ping(PingTarget(name="p", type="ping", host="127.0.0.1", socket_kind="raw"), 2)
    assert result.passed and result.payload["socket"] == "raw"
    auto = await check_ping(PingTarget(name="p", type="ping", host="127.0.0.1"), 2)
    assert auto.passed
    if Path("/proc/net/if_inet6").exists() and " lo\n" in Path("/proc/net/if_inet6").read_text():
        assert (await check_ping(PingTarget(name="p", type="ping", host="::1", socket_kind="raw"), 2)).passed


PING_IN_NAMESPACE = """
import asyncio
from faultmgr_probes.checks.ping import PingTarget, check_ping
result = asyncio.run(asyncio.wait_for(check_ping(PingTarget(name="p", type="ping", host="127.0.0.1",
                                                            socket_kind="dgram"), 2), 3))
print(result.status.value, result.payload["socket"] if result.passed else result.reason)
"""


@pytest.mark.netns
def test_ping_dgram_socket_in_a_namespace() -> None:
    # net.ipv4.ping_group_range is per network namespace: open it to root in a namespace of our own.
    need_root()
    need_program("ip", "iproute2")
    namespace = f"fmprobe{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        def inside(*argv: str) -> str:
            return subprocess.run(["ip", "netns", "exec", namespace, *argv], check=True, capture_output=True,
                                  text=True, timeout=30).stdout

        inside("ip", "link", "set", "lo", "up")
        inside("sh", "-c", "echo 0 0 > /proc/sys/net/ipv4/ping_group_range")
        assert inside(sys.executable, "-c", PING_IN_NAMESPACE).strip() == "ok dgram"
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], check=False)


async def test_ping_dgram_when_allowed() -> None:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
    except PermissionError:
        result = await check_ping(PingTarget(name="p", type="ping", host="127.0.0.1", socket_kind="dgram"), 2)
        assert result.status.value == "unknown" and "ping_group_range" in result.reason
        return
    result = await check_ping(PingTarget(name="p", type="ping", host="127.0.0.1", socket_kind="dgram"), 2)
    assert result.passed and result.payload["socket"] == "dgram"
