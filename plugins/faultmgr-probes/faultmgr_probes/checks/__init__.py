"""The check types: each module holds one target model and a ``build(target)`` that prepares its check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from faultmgr_probes.checks import connect, dns, external, fs, http, ping, sip, smtp
from faultmgr_probes.result import ProbeFn
from faultmgr_probes.target import TargetBase

#: check type -> function preparing the check for a target of that type.
BUILDERS: dict[str, Callable[[Any], ProbeFn]] = {
    "connect": connect.build,
    "http": http.build,
    "https": http.build,
    "dns": dns.build,
    "smtp": smtp.build,
    "sip": sip.build,
    "ping": ping.build,
    "external": external.build,
    "fs": fs.build,
}

#: A target as written in a rule file; ``type`` picks the model, so options are checked per type.
Target = Annotated[
    connect.ConnectTarget | http.HttpTarget | dns.DnsTarget | smtp.SmtpTarget | sip.SipTarget
    | ping.PingTarget | external.ExternalTarget | fs.FsTarget,
    Field(discriminator="type"),
]


def build_check(target: TargetBase) -> ProbeFn:
    """The prepared check for any target."""
    return BUILDERS[target.type](target)


__all__ = ["BUILDERS", "Target", "build_check"]
