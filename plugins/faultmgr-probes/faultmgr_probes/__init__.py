"""ldirectord-style service probes for faultmgr: the ``probe`` detector type."""

from __future__ import annotations

from typing import Any

import click

from faultmgr.component import Detector
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_probes.detector import ProbeDetector
from faultmgr_probes.result import CheckResult, Status
from faultmgr_probes.settings import ProbeSettings


@hookimpl
def faultmgr_register_detectors(registry: TypeRegistry[Detector]) -> None:
    """Register the ``probe`` detector type."""
    registry.register("probe", ProbeDetector)


@hookimpl
def faultmgr_control_commands(commands: dict[str, Any]) -> None:
    """``probe.maintenance`` and ``probe.list`` on the daemon's control socket."""
    from faultmgr_probes.control import list_request, maintenance_request

    commands["probe.maintenance"] = maintenance_request
    commands["probe.list"] = list_request


@hookimpl
def faultmgr_cli_commands(cli: click.Group) -> None:
    """``faultmgr probe list`` and ``faultmgr probe maintenance TARGET on|off``."""
    from faultmgr_probes.control import probe_group

    cli.add_command(probe_group)


__all__ = ["CheckResult", "ProbeDetector", "ProbeSettings", "Status", "faultmgr_cli_commands",
           "faultmgr_control_commands", "faultmgr_register_detectors"]
