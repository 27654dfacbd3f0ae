"""Base classes for what plugins register: detectors, actions and notifiers.

Hooks only hand these *types* to a registry; the daemon builds one object per instance declared in the rule
files and drives its ``async`` methods. Every type declares its settings as a pydantic model (``Settings``),
which gives rule-file validation, did-you-mean hints, the JSON schema and the documentation in one place.
"""

from __future__ import annotations

import abc
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from faultmgr.alert import AlertView, Notification
from faultmgr.config.settings import PluginSettings
from faultmgr.event import Event, Severity

if TYPE_CHECKING:
    from faultmgr.runtime import Runtime


class Component:
    """What detectors, actions and notifiers share: a name, validated settings and the runtime."""

    #: Settings model; subclasses replace it with their own :class:`PluginSettings` subclass.
    Settings: ClassVar[type[PluginSettings]] = PluginSettings
    #: One line shown by ``faultmgr plugins`` and in the docs.
    summary: ClassVar[str] = ""

    def __init__(self, name: str, settings: PluginSettings, runtime: Runtime) -> None:
        self.name = name
        self.settings = settings
        self.runtime = runtime
        self.log = logging.getLogger(f"faultmgr.{type(self).__name__}.{name}")

    async def start(self) -> None:
        """Called once when the daemon starts (or the instance is added by a reload)."""

    async def stop(self) -> None:
        """Called once at shutdown, or when a reload removes or changes the instance."""

    def check(self) -> list[str]:
        """Checks that need more than the settings' types (a key file's permissions, say), run by
        ``faultmgr check`` and at start. Returns one message per problem; empty means fine."""
        return []

    def status(self) -> dict[str, Any]:
        """A JSON-ready view of the instance's state, for ``faultmgr status`` and the API."""
        return {}


class Detector(Component):
    """Watches something and emits :class:`~faultmgr.event.Event` objects through :meth:`emit`.

    A detector starts its own work in :meth:`start` (tasks, sockets, scheduler jobs) and must never block
    the event loop. ``events`` documents the kinds it emits (kind -> description).
    """

    events: ClassVar[dict[str, str]] = {}

    def emit(
        self,
        kind: str,
        subject: str,
        severity: Severity | str = Severity.INFO,
        *,
        labels: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
        message: str = "",
    ) -> Event:
        """Build an event from this detector and hand it to the engine. Returns the event."""
        event = Event(
            kind=kind,
            source=self.name,
            subject=subject,
            severity=Severity.parse(severity),
            labels=dict(labels or {}),
            payload=dict(payload or {}),
            time=self.runtime.clock.now(),
            message=message,
        )
        self.runtime.emit(event)
        return event


class ActionResult:
    """Outcome of one action run, recorded in the journal."""

    __slots__ = ("ok", "detail", "data")

    def __init__(self, ok: bool, detail: str = "", data: dict[str, Any] | None = None) -> None:
        self.ok = ok
        self.detail = detail
        self.data = data or {}

    def __repr__(self) -> str:
        return f"ActionResult(ok={self.ok}, detail={self.detail!r})"


class Action(Component, abc.ABC):
    """Does something about an alert (move a VIP, reweight a server, run a command).

    :meth:`run` is called at most once per alert firing (the engine records the run before it starts, so a
    restart never repeats it); it must finish within the instance's ``timeout`` or it is cancelled.
    ``resolved`` is true when the engine runs the action's ``on_resolve`` side.
    """

    @abc.abstractmethod
    async def run(self, alert: AlertView, event: Event | None, resolved: bool = False) -> ActionResult:
        """Carry out the action for ``alert`` (triggered by ``event``)."""


class DeliveryError(Exception):
    """A notifier could not deliver now.

    :param retry_after: seconds the channel asked us to wait (HTTP 429 ``Retry-After``), if any.
    :param permanent: true when retrying cannot help (bad credentials, a rejected address): the outbox goes
        straight to the receiver's fallback.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Notifier(Component, abc.ABC):
    """Delivers a :class:`~faultmgr.alert.Notification` to people or systems.

    :meth:`send` raises :class:`DeliveryError` when delivery failed; the outbox retries it with backoff and
    then falls back to the next receiver. It returns a short receipt (message id, SID) for the journal.
    """

    @abc.abstractmethod
    async def send(self, notification: Notification) -> str:
        """Deliver ``notification``; return a receipt string."""


__all__ = [
    "Action",
    "ActionResult",
    "AlertView",
    "Component",
    "DeliveryError",
    "Detector",
    "Event",
    "Notification",
    "Notifier",
    "Severity",
]
