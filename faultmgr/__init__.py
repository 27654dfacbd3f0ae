"""faultmgr: fault management and alerting for Linux high-availability clusters.

The public face for plugin authors: the hook markers, the base classes and the value types.
"""

from faultmgr.alert import AlertState, AlertView, Notification
from faultmgr.component import Action, ActionResult, DeliveryError, Detector, Notifier
from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration, Regex, SecretFile, check_private_file
from faultmgr.event import Event, Severity
from faultmgr.hookspecs import hookimpl
from faultmgr.shipped import shipped_rules

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ActionResult",
    "AlertState",
    "AlertView",
    "DeliveryError",
    "Detector",
    "Duration",
    "Event",
    "Notification",
    "Notifier",
    "PluginSettings",
    "Regex",
    "SecretFile",
    "Severity",
    "__version__",
    "check_private_file",
    "hookimpl",
    "shipped_rules",
]
