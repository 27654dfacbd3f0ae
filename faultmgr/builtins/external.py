"""Built-in ``external`` detector: the named source for events injected from outside (API, CLI, tests).

It watches nothing itself; ``faultmgr inject`` and ``POST /api/v1/events`` hand events to the engine with
this instance as their source, so rules can tell injected events apart.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from faultmgr.component import Detector
from faultmgr.config.settings import PluginSettings
from faultmgr.event import Event
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


class InjectedEvent(BaseModel):
    """An event handed in from outside (``faultmgr inject``, the control socket, ``POST /api/v1/events``):
    bounded, and without a ``time`` of its own (the daemon stamps it when it takes it)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$",
                      description="dotted kind such as `app.queue.stuck`")
    source: str = Field(min_length=1, max_length=200, description="name of an `external` detector instance")
    subject: str = Field(min_length=1, max_length=500, description="what it is about: node, service, target")
    severity: Literal["ok", "info", "warning", "critical"] = Field("info", description="`ok` marks a recovery")
    labels: dict[str, str] = Field(default_factory=dict, max_length=64, description="string labels")
    payload: dict[str, Any] = Field(default_factory=dict, description="free-form data rules can test")
    message: str = Field("", max_length=4000, description="one human line")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or len(key) > 200:
                raise ValueError(f"label name {key[:40]!r} must be 1..200 characters")
        return value


def admit(detectors: dict[str, Any], data: Any, now: float, who: str) -> Event:
    """The event ``data`` describes, if an ``external`` detector of this config accepts it; else
    ``ValueError`` naming the problem. Every way in (control socket, API) goes through here."""
    if not isinstance(data, dict):
        raise ValueError("'event' must be an object")
    try:
        body = InjectedEvent.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise ValueError(f"event: {where}: {first['msg']}") from None
    source = detectors.get(body.source)
    if source is None or source.type != "external":
        externals = sorted(n for n, i in detectors.items() if i.type == "external")
        raise ValueError(f"source {body.source!r} is not an 'external' detector of this config "
                         f"(external detectors: {', '.join(externals) or 'none'})")
    kinds = list(getattr(source.settings, "kinds", ["*"]))
    if not any(fnmatch.fnmatchcase(body.kind, k) for k in kinds):
        raise ValueError(f"detector {body.source!r} does not accept kind {body.kind!r} (kinds: {', '.join(kinds)})")
    event = Event.from_dict({**body.model_dump(), "time": now})
    event.labels.setdefault("injected_by", who)
    return event


@hookimpl
def faultmgr_register_detectors(registry: TypeRegistry[Detector]) -> None:
    registry.register("external", ExternalDetector)
