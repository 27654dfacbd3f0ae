"""The entry point of the distribution: registers the ``heartbeat`` and ``ehb`` detector types."""

from __future__ import annotations

from faultmgr.component import Detector
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_heartbeat.detector import HeartbeatDetector
from faultmgr_heartbeat.ehb import EhbDetector


@hookimpl
def faultmgr_register_detectors(registry: TypeRegistry[Detector]) -> None:
    """Register the ``heartbeat`` and ``ehb`` detector types."""
    registry.register("heartbeat", HeartbeatDetector)
    registry.register("ehb", EhbDetector)
