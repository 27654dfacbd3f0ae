"""faultmgr's ``email`` notifier: pages by e-mail over SMTP, with subject and body from Jinja2 templates."""

from __future__ import annotations

from faultmgr import hookimpl
from faultmgr.component import Notifier
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_email.notifier import EmailNotifier, EmailSettings

__all__ = ["EmailNotifier", "EmailSettings", "faultmgr_register_notifiers"]


@hookimpl
def faultmgr_register_notifiers(registry: TypeRegistry[Notifier]) -> None:
    """Register the ``email`` notifier type."""
    registry.register("email", EmailNotifier)
