"""Built-in ``external`` detector: the named source for events injected from outside (API, CLI, tests).

It watches nothing itself; ``faultmgr inject`` and ``POST /api/v1/events`` hand events to the engine with
this instance as their source, so rules can tell injected events apart.
"""

from __future__ import annotations

from pydantic import Field

from faultmgr.component import Detector
from faultmgr.config.settings import PluginSettings
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry


class ExternalSettings(PluginSettings):
    kinds: list[str] = Field(default_factory=lambda: ["*"],
                             description="event kinds (globs) accepted from outside for this source")


class ExternalDetector(Detector):
    """Accepts events pushed by other systems."""

    Settings = ExternalSettings
    summary = "events injected by other systems through the API or `faultmgr inject`"
    events = {"*": "whatever the injecting system sends"}


@hookimpl
def faultmgr_register_detectors(registry: TypeRegistry[Detector]) -> None:
    registry.register("external", ExternalDetector)
