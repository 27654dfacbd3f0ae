"""faultmgr's ``sms`` notifier: SMS through Twilio's Messages API with the official library."""

from __future__ import annotations

from faultmgr import hookimpl
from faultmgr.component import Notifier
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_sms.notifier import SmsNotifier, SmsSettings

__all__ = ["SmsNotifier", "SmsSettings", "faultmgr_register_notifiers"]


@hookimpl
def faultmgr_register_notifiers(registry: TypeRegistry[Notifier]) -> None:
    """Register the ``sms`` notifier type."""
    registry.register("sms", SmsNotifier)
