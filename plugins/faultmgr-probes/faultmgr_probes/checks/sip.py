"""``sip``: an OPTIONS request over UDP gets a final response (ldirectord's ``service = sip``)."""

from __future__ import annotations

import asyncio
import secrets
from functools import partial
from typing import ClassVar, Literal

from pydantic import Field

from faultmgr_probes.result import CheckResult, ProbeFn, describe_error
from faultmgr_probes.target import TargetBase


class SipTarget(TargetBase):
    """A SIP server or proxy."""

    type: Literal["sip"] = Field(description="check type")
    expect_status: list[int] = Field(default_factory=list,
                                     description="final status codes that count as success; any >= 200 "
                                                 "when empty (a 404 or 405 still proves the server answers)")
    user: str = Field(default="faultmgr", description="user part of the From URI")

    default_port: ClassVar[int | None] = 5060


def build_options(host: str, port: int, local: tuple[str, int], user: str, branch: str, call_id: str) -> bytes:
    """An OPTIONS request (RFC 3261 section 11) from ``local``."""
    local_host, local_port = local
    target = f"sip:{host}:{port}"
    lines = [
        f"OPTIONS {target} SIP/2.0",
        f"Via: SIP/2.0/UDP {local_host}:{local_port};branch=z9hG4bK{branch};rport",
        "Max-Forwards: 70",
        f"To: <{target}>",
        f"From: <sip:{user}@{local_host}>;tag={branch[:8]}",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:{user}@{local_host}:{local_port}>",
        "Accept: application/sdp",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class _Responses(asyncio.DatagramProtocol):
    """Waits for the final response to our Call-ID; provisional (1xx) responses are skipped."""

    def __init__(self, call_id: str, done: asyncio.Future[tuple[int, str]]) -> None:
        self.call_id = call_id
        self.done = done

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        text = data.decode("utf-8", "replace")
        status_line, _, rest = text.partition("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("SIP/") or not parts[1].isdigit():
            return
        if self.call_id not in rest:
            return
        code = int(parts[1])
        if code >= 200 and not self.done.done():
            self.done.set_result((code, parts[2] if len(parts) > 2 else ""))

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


async def check_sip(target: SipTarget, timeout: float) -> CheckResult:
    """Send OPTIONS and wait for a final response."""
    loop = asyncio.get_running_loop()
    port = target.effective_port or 5060
    call_id = f"{secrets.token_hex(8)}@faultmgr"
    done: asyncio.Future[tuple[int, str]] = loop.create_future()
    transport = None
    try:
        transport, _ = await loop.create_datagram_endpoint(lambda: _Responses(call_id, done),
                                                           remote_addr=(target.host, port))
        local = transport.get_extra_info("sockname")[:2]
        transport.sendto(build_options(target.host, port, local, target.user, secrets.token_hex(8), call_id))
        code, text = await done
    except OSError as exc:
        return CheckResult.critical(describe_error(exc))
    finally:
        if transport is not None:
            transport.close()
    if target.expect_status and code not in target.expect_status:
        return CheckResult.critical(f"SIP {code} {text}".strip(), status=code)
    return CheckResult.ok(f"SIP {code} {text}".strip(), status=code)


def build(target: SipTarget) -> ProbeFn:
    """The prepared check for ``target``."""
    return partial(check_sip, target)
