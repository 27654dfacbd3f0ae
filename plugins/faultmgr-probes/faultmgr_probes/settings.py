"""Settings of a ``probe`` detector: the targets and the ldirectord/keepalived timing knobs."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration
from faultmgr_probes.checks import Target


class ProbeSettings(PluginSettings):
    """One ``probe`` detector watches many targets with one schedule."""

    targets: list[Target] = Field(min_length=1, description="the targets: name, type, host, port and "
                                                            "the options of the check type")
    checkinterval: Duration = Field(default=5.0, gt=0, description="time between two checks of a target")
    checktimeout: Duration = Field(default=5.0, gt=0,
                                   description="time one check attempt may take (connect and negotiate)")
    failurecount: int = Field(default=3, ge=1,
                              description="consecutive failed checks before a target is hard down")
    rise: int = Field(default=1, ge=1, description="consecutive good checks before a down target is up again")
    retries: int = Field(default=0, ge=0,
                         description="extra attempts within one check before it counts as failed")
    delay_before_retry: Duration = Field(default=1.0, description="pause between two attempts of one check")
    concurrency: int = Field(default=1000, ge=1, description="checks running at once at most")
    slot: Duration = Field(default=0.02, gt=0,
                           description="scheduling slot: targets are spread over interval/slot slots")
    maintenancedir: Path | None = Field(default=None,
                                        description="a file named after a target (its name, host or "
                                                    "host:port) in this directory puts it in maintenance")
    maintenance_poll: Duration = Field(default=2.0, gt=0, description="how often maintenancedir is read")
    emit_soft: bool = Field(default=False, description="also emit probe.soft_failed for each failure "
                                                       "before failurecount is reached")

    @model_validator(mode="after")
    def _names_are_unique(self) -> ProbeSettings:
        seen: dict[str, str] = {}
        for target in self.targets:
            identity = target.identity()
            if seen.setdefault(target.name, identity) != identity:
                raise ValueError(f"two different targets are named {target.name!r}; names must be unique "
                                 f"(the same target listed twice is fine)")
        return self
