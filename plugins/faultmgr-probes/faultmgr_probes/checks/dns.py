"""``dns``: the server answers a query over UDP with at least one record (and the expected address).

The query and the answer are built and read here (RFC 1035 section 4): one question, and for the answer
only the header, the records' types and A/AAAA data are needed, which does not justify a dependency.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import struct
from functools import partial
from typing import ClassVar, Literal

from pydantic import Field

from faultmgr_probes.result import CheckResult, ProbeFn, describe_error
from faultmgr_probes.target import TargetBase

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33}
RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


class DnsTarget(TargetBase):
    """A DNS server that must resolve ``query``."""

    type: Literal["dns"] = Field(description="check type")
    query: str = Field(description="name to look up")
    qtype: Literal["A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV"] = Field(
        default="A", description="record type asked for")
    expect_address: str | None = Field(default=None,
                                       description="an A/AAAA answer must contain this address")
    recursion: bool = Field(default=True, description="set the recursion-desired bit")

    default_port: ClassVar[int | None] = 53


def build_query(ident: int, name: str, qtype: int, recursion: bool = True) -> bytes:
    """A standard query for ``name``."""
    labels = [label.encode("idna") for label in name.rstrip(".").split(".") if label]
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    flags = 0x0100 if recursion else 0
    return struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)


def _skip_name(data: bytes, pos: int) -> int:
    """Offset just past a (possibly compressed) domain name at ``pos``."""
    while True:
        if pos >= len(data):
            raise ValueError("truncated name")
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:  # a pointer ends the name
            return pos + 2
        pos += 1 + length


def parse_answer(data: bytes, ident: int) -> tuple[int, list[tuple[int, bytes]]]:
    """A response -> (rcode, [(type, rdata)] of the answer section). Raises ValueError if malformed."""
    if len(data) < 12:
        raise ValueError("short DNS response")
    rid, flags, qdcount, ancount = struct.unpack("!HHHH", data[:8])
    if rid != ident or not flags & 0x8000:
        raise ValueError("not a response to our query")
    pos = 12
    for _ in range(qdcount):
        pos = _skip_name(data, pos) + 4
    answers = []
    for _ in range(ancount):
        pos = _skip_name(data, pos)
        rtype, _cls, _ttl, rdlength = struct.unpack("!HHIH", data[pos:pos + 10])
        pos += 10
        answers.append((rtype, data[pos:pos + rdlength]))
        pos += rdlength
    return flags & 0x000F, answers


class _Reply(asyncio.DatagramProtocol):
    def __init__(self, ident: int, done: asyncio.Future[bytes]) -> None:
        self.ident = ident
        self.done = done

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        # Ignore stray datagrams; the answer carries our query id.
        if len(data) >= 2 and int.from_bytes(data[:2], "big") == self.ident and not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


async def check_dns(target: DnsTarget, timeout: float) -> CheckResult:
    """Send one query and judge the answer."""
    loop = asyncio.get_running_loop()
    ident = int.from_bytes(os.urandom(2), "big")
    qtype = QTYPES[target.qtype]
    done: asyncio.Future[bytes] = loop.create_future()
    transport = None
    try:
        transport, _ = await loop.create_datagram_endpoint(lambda: _Reply(ident, done),
                                                           remote_addr=(target.host, target.effective_port or 53))
        transport.sendto(build_query(ident, target.query, qtype, target.recursion))
        data = await done
    except OSError as exc:
        return CheckResult.critical(describe_error(exc))
    finally:
        if transport is not None:
            transport.close()
    try:
        rcode, answers = parse_answer(data, ident)
    except (ValueError, struct.error) as exc:
        return CheckResult.critical(f"bad DNS response: {exc}")
    if rcode:
        return CheckResult.critical(f"DNS {RCODES.get(rcode, rcode)}", rcode=rcode)
    wanted = [rdata for rtype, rdata in answers if rtype == qtype]
    if not wanted:
        return CheckResult.critical(f"no {target.qtype} record for {target.query}")
    addresses = [str(ipaddress.ip_address(r)) for r in wanted if len(r) in (4, 16)] \
        if target.qtype in ("A", "AAAA") else []
    if target.expect_address is not None and \
            str(ipaddress.ip_address(target.expect_address)) not in addresses:
        return CheckResult.critical(f"{target.query} resolves to {', '.join(addresses)}, "
                                    f"not {target.expect_address}", addresses=addresses)
    return CheckResult.ok(f"{len(wanted)} {target.qtype} record(s)", addresses=addresses)


def build(target: DnsTarget) -> ProbeFn:
    """The prepared check for ``target``."""
    return partial(check_dns, target)
