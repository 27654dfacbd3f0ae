"""``connect``: the real server accepts a TCP connection (ldirectord's ``checktype = connect``)."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Literal

from pydantic import Field

from faultmgr_probes.checks.rawtcp import exchange, numeric_family
from faultmgr_probes.result import CheckResult, ProbeFn, describe_error
from faultmgr_probes.target import TargetBase


class ConnectTarget(TargetBase):
    """A TCP port that must accept connections."""

    type: Literal["connect"] = Field(description="check type")
    port: int = Field(ge=1, le=65535, description="TCP port")  # type: ignore[assignment]


class _Closer(asyncio.Protocol):
    """Closes the connection as soon as it is made: all the check wants is the handshake."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


def _never_complete(buffer: bytearray) -> bool:
    return False


async def check_connect(target: ConnectTarget, timeout: float) -> CheckResult:
    """Open and close one TCP connection."""
    family = numeric_family(target.host)
    try:
        if family is not None:
            await exchange(family, (target.host, target.port), b"", _never_complete)
        else:
            loop = asyncio.get_running_loop()
            await loop.create_connection(_Closer, target.host, target.port)
    except OSError as exc:
        return CheckResult.critical(describe_error(exc))
    return CheckResult.ok("connected")


def build(target: ConnectTarget) -> ProbeFn:
    """The prepared check for ``target``."""
    return partial(check_connect, target)
