"""Request bodies of the API, validated in full before anything reaches the engine.

Each model forbids unknown fields, so a misspelled key is an error that names it instead of being ignored.
The same models give the request schemas of the OpenAPI description (see :mod:`faultmgr_api.openapi`).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from faultmgr.builtins.external import InjectedEvent
from faultmgr.config.types import Duration
from faultmgr.matchers import LabelMatcher

#: Longest silence or acknowledgement comment kept.
MAX_COMMENT = 2000


class Body(BaseModel):
    """Base of every request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class AckBody(Body):
    """Acknowledge an alert."""

    comment: str = Field("", max_length=MAX_COMMENT, description="why, or what is being done")


class UnackBody(Body):
    """Take an acknowledgement back (no fields)."""


class SilenceBody(Body):
    """Silence alerts whose labels match every matcher, from ``starts_at`` (default now) for ``duration`` or
    until ``ends_at``. The author is the token's name."""

    matchers: list[str] = Field(min_length=1, max_length=32,
                                description="label matchers: `name=value`, `name!=value`, `name=~regex`, "
                                            "`name!~regex`, e.g. `subject=web1`")
    duration: Duration | None = Field(None, description="how long (e.g. 30m, 2h); give this or ends_at")
    ends_at: float | None = Field(None, description="end as seconds since the epoch; give this or duration")
    starts_at: float | None = Field(None, description="start as seconds since the epoch (default: now)")
    comment: str = Field("", max_length=MAX_COMMENT, description="why")

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        for item in value:
            LabelMatcher.parse(item)  # raises ValueError naming the bad matcher
        return value

    @model_validator(mode="after")
    def _window(self) -> SilenceBody:
        if (self.duration is None) == (self.ends_at is None):
            raise ValueError("give exactly one of 'duration' or 'ends_at'")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("'duration' must be more than zero")
        return self

    def seconds(self, now: float | None = None) -> float:
        """The silence's length in seconds, from its start."""
        if self.duration is not None:
            return self.duration
        start = self.starts_at if self.starts_at is not None else (time.time() if now is None else now)
        assert self.ends_at is not None
        if self.ends_at <= start:
            raise ValueError("'ends_at' is not after the silence's start")
        return self.ends_at - start


class EventBody(InjectedEvent):
    """An event injected by another system; ``source`` must name an ``external`` detector (the core's model:
    the control socket checks the same)."""


class ReloadBody(Body):
    """Reload the rule files (no fields)."""


class DrainBody(Body):
    """Drain a real server: weight 0, wait for its connections to end (at most ``timeout``), remove it."""

    timeout: Duration | None = Field(None, description="longest wait for connections to end (default: the "
                                                       "pool's drain_timeout)")


class AddServerBody(Body):
    """Put a server (back) in a pool once its health check passes ``rise`` times in a row: the daemon's probe
    of a target named like the server when one watches it, else a TCP connection."""

    weight: int | None = Field(None, ge=0, le=65535, description="weight (default: the declared one)")
    rise: int | None = Field(None, ge=1, le=100, description="checks that must pass in a row (default: the "
                                                             "probe's rise, else 1)")
    address: str | None = Field(None, description="address of a server the rule file does not declare")
    port: int | None = Field(None, ge=1, le=65535, description="its port (default: the service's)")
    timeout: Duration = Field(30.0, description="give up when the server is not healthy within this")


class WeightBody(Body):
    """Set a real server's weight until the override is cleared (0 quiesces it)."""

    weight: int = Field(ge=0, le=65535, description="the new weight")


class ControlBody(Body):
    """One request of the local control protocol, as the ``faultmgr`` command line sends it over HTTP."""

    cmd: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                     description="the request: `alerts`, `ack`, `silence.add`, `pool.drain`, ...")
    args: dict[str, Any] = Field(default_factory=dict, description="its arguments, as on the control socket")
