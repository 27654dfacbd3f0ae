"""``http`` and ``https``: one request, an expected status and a ``receive`` pattern on the body.

The exchange is a bare :class:`asyncio.Protocol` rather than aiohttp or streams: a check is one short
request on a fresh connection, and at 10,000 targets a second the per-check cost is what limits a core
(``bench/probes.py`` measures it against the bare-asyncio floor).
"""

from __future__ import annotations

import asyncio
import ssl
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from faultmgr.config.types import Regex
from faultmgr_probes.checks.rawtcp import Completion, exchange, numeric_family
from faultmgr_probes.result import CheckResult, ProbeFn, describe_error
from faultmgr_probes.target import TargetBase

_HEADER_LIMIT = 16384


class HttpTarget(TargetBase):
    """A web server (ldirectord's ``checktype = negotiate`` with ``service = http/https``)."""

    type: Literal["http", "https"] = Field(description="check type: http, or https (TLS)")
    method: str = Field(default="GET", description="request method (GET, HEAD, ...)")
    path: str = Field(default="/", description="request path (ldirectord's `request`)")
    virtualhost: str | None = Field(default=None,
                                    description="Host header and TLS server name; the host when unset")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    expect_status: list[int] = Field(default_factory=lambda: [200],
                                     description="status codes that count as success")
    receive: Regex | None = Field(default=None,
                                  description="regular expression the body must match (ldirectord's `receive`)")
    max_body: int = Field(default=65536, ge=0, description="bytes of body read at most (the rest is ignored)")
    verify: bool = Field(default=True, description="https: verify the server's certificate and name")
    ca_file: Path | None = Field(default=None, description="https: CA bundle to verify against")
    cert_file: Path | None = Field(default=None, description="https: client certificate (PEM)")
    key_file: Path | None = Field(default=None, description="https: client key (PEM, mode 0600)")

    default_port: ClassVar[int | None] = None

    @property
    def effective_port(self) -> int:
        """``port``, or 80 / 443."""
        return self.port if self.port is not None else (443 if self.type == "https" else 80)


@lru_cache(maxsize=64)
def tls_context(verify: bool, ca_file: Path | None, cert_file: Path | None,
                key_file: Path | None) -> ssl.SSLContext:
    """One client TLS context per distinct setting (loading a CA bundle per check would dominate its cost)."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return context


class _Exchange(asyncio.Protocol):
    """TLS or named hosts: writes the request, collects the response until ``complete`` says enough."""

    def __init__(self, request: bytes, complete: Completion, done: asyncio.Future[bytes]) -> None:
        self.request = request
        self.complete = complete
        self.done = done
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.complete(self.buffer):
            self._finish()

    def eof_received(self) -> bool:
        self._finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is None and self.buffer:
                self.done.set_result(bytes(self.buffer))
            else:
                self.done.set_exception(exc or ConnectionResetError("connection closed before a response"))

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(bytes(self.buffer))
        if self.transport is not None:
            self.transport.close()


def response_complete(limit: int) -> Completion:
    """A completion test for an HTTP response: headers plus ``Content-Length`` (or ``limit``) bytes."""

    def complete(buffer: bytearray) -> bool:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return len(buffer) > _HEADER_LIMIT
        length = _content_length(bytes(buffer[:end]))
        if length is None:  # chunked or until close: read to the end of the stream or the limit
            return len(buffer) - end - 4 >= limit
        return len(buffer) >= end + 4 + min(length, limit)

    return complete


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def _dechunk(body: bytes) -> bytes:
    """Decode a chunked body as far as it goes (it may be cut at ``max_body``)."""
    out = bytearray()
    pos = 0
    while pos < len(body):
        end = body.find(b"\r\n", pos)
        if end < 0:
            break
        try:
            size = int(body[pos:end].split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += body[end + 2:end + 2 + size]
        pos = end + 2 + size + 2
    return bytes(out)


def parse_response(raw: bytes, limit: int) -> tuple[int, dict[str, str], bytes]:
    """``raw`` response -> (status, lower-cased headers, body cut at ``limit``). Raises ValueError."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    return int(parts[1]), headers, body[:limit]


class HttpCheck:
    """The prepared check for one HTTP(S) target."""

    def __init__(self, target: HttpTarget) -> None:
        self.target = target
        self.port = target.effective_port
        host = target.virtualhost or target.host
        default = 443 if target.type == "https" else 80
        host_header = host if self.port == default else f"{host}:{self.port}"
        lines = [f"{target.method} {target.path} HTTP/1.1", f"Host: {host_header}",
                 "User-Agent: faultmgr-probe", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in target.headers.items()]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.complete = response_complete(target.max_body)
        self.tls = target.type == "https"
        self.server_hostname = host if self.tls else None
        # Plain HTTP to a literal address takes the lean path; TLS and names need a transport / resolver.
        self.family = None if self.tls else numeric_family(target.host)

    async def __call__(self, timeout: float) -> CheckResult:
        """Run one request; the caller bounds it with ``timeout``."""
        try:
            raw = await (exchange(self.family, (self.target.host, self.port), self.request, self.complete)
                         if self.family is not None else self._via_transport())
        except ssl.SSLError as exc:
            return CheckResult.critical(f"TLS: {exc.reason or exc}")
        except OSError as exc:
            return CheckResult.critical(describe_error(exc))
        return self.judge(raw)

    async def _via_transport(self) -> bytes:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bytes] = loop.create_future()
        transport: asyncio.BaseTransport | None = None
        try:
            target = self.target
            # Built at the first check, not at load: a missing key file is reported by ``check()``
            # as a user error rather than crashing the detector's construction.
            context = tls_context(target.verify, target.ca_file, target.cert_file, target.key_file) \
                if self.tls else None
            transport, _ = await loop.create_connection(
                lambda: _Exchange(self.request, self.complete, done), target.host, self.port,
                ssl=context, server_hostname=self.server_hostname)
            return await done
        finally:
            if transport is not None:
                transport.close()

    def judge(self, raw: bytes) -> CheckResult:
        """Status and body of a response -> the check's verdict."""
        target = self.target
        if target.receive is None and raw[:7] == b"HTTP/1." and raw[9:12].isdigit() and raw[12:13] in b" \r":
            status = int(raw[9:12])  # the common case needs the status line only: skip header parsing
        else:
            try:
                status, _headers, body = parse_response(raw, target.max_body)
            except ValueError as exc:
                return CheckResult.critical(str(exc))
        if status not in target.expect_status:
            return CheckResult.critical(f"HTTP {status}", status=status)
        if target.receive is not None and not target.receive.search(body.decode("utf-8", "replace")):
            return CheckResult.critical(f"HTTP {status}: body does not match {target.receive.pattern!r}",
                                        status=status)
        return CheckResult.ok(f"HTTP {status}", status=status)


def build(target: HttpTarget) -> ProbeFn:
    """The prepared check for ``target``."""
    return HttpCheck(target)
