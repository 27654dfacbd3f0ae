"""ldirectord-style service probes for faultmgr: the ``probe`` detector type."""

from __future__ import annotations

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


__all__ = ["CheckResult", "ProbeDetector", "ProbeSettings", "Status", "faultmgr_register_detectors"]
