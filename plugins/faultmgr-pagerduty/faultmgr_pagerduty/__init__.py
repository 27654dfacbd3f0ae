"""faultmgr's ``pagerduty`` notifier: PagerDuty Events API v2."""

from __future__ import annotations

from faultmgr import hookimpl
from faultmgr.component import Notifier
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_pagerduty.notifier import PagerDutyNotifier, PagerDutySettings

__all__ = ["PagerDutyNotifier", "PagerDutySettings", "faultmgr_register_notifiers"]


@hookimpl
def faultmgr_register_notifiers(registry: TypeRegistry[Notifier]) -> None:
    """Register the ``pagerduty`` notifier type."""
    registry.register("pagerduty", PagerDutyNotifier)
