"""``smtp``: the mail server greets with 220 and answers EHLO with 250."""

from __future__ import annotations

import asyncio
import socket
from functools import partial
from typing import ClassVar, Literal

from pydantic import Field

from faultmgr_probes.result import CheckResult, ProbeFn, describe_error
from faultmgr_probes.target import TargetBase


class SmtpTarget(TargetBase):
    """An SMTP server (ldirectord's ``service = smtp``)."""

    type: Literal["smtp"] = Field(description="check type")
    helo_name: str = Field(default_factory=socket.getfqdn, description="name sent with EHLO")

    default_port: ClassVar[int | None] = 25


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    """One (possibly multi-line) SMTP reply -> (code, first line's text)."""
    first = ""
    while True:
        line = (await reader.readline()).decode("utf-8", "replace").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise ValueError(f"not an SMTP reply: {line[:60]!r}")
        first = first or line[4:]
        if line[3:4] != "-":
            return int(line[:3]), first


async def check_smtp(target: SmtpTarget, timeout: float) -> CheckResult:
    """Banner, EHLO, QUIT."""
    try:
        reader, writer = await asyncio.open_connection(target.host, target.effective_port)
    except OSError as exc:
        return CheckResult.critical(describe_error(exc))
    try:
        code, text = await read_reply(reader)
        if code != 220:
            return CheckResult.critical(f"banner {code} {text}", code=code)
        writer.write(f"EHLO {target.helo_name}\r\n".encode())
        code, text = await read_reply(reader)
        if code != 250:
            return CheckResult.critical(f"EHLO answered {code} {text}", code=code)
        writer.write(b"QUIT\r\n")
        return CheckResult.ok(f"220/250 {text}", code=code)
    except (OSError, ValueError) as exc:
        return CheckResult.critical(describe_error(exc))
    finally:
        writer.close()


def build(target: SmtpTarget) -> ProbeFn:
    """The prepared check for ``target``."""
    return partial(check_smtp, target)
