"""What the daemon hands to every detector, action and notifier it builds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faultmgr.clock import Clock, SystemClock
from faultmgr.event import Event

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from faultmgr.config.build import Config
    from faultmgr.store import KeyValueStore


@dataclass
class Runtime:
    """Shared services for plugin instances.

    :param emit: hand an event to the engine (non-blocking; safe to call from the event loop).
    :param clock: the daemon's clock (virtual under ``simulate``).
    :param scheduler: APScheduler's ``AsyncIOScheduler`` for periodic work (``None`` outside the daemon).
    :param state_dir: a directory the instance may keep files in (created, mode 0750).
    :param store: small durable key/value store for state that must survive restarts.
    :param config: the validated config in force.
    :param components: the daemon's instances by kind and name, for plugins that cooperate.
    """

    emit: Callable[[Event], None]
    clock: Clock = field(default_factory=SystemClock)
    scheduler: AsyncIOScheduler | None = None
    state_dir: Path = field(default_factory=lambda: Path("."))
    store: KeyValueStore | None = None
    config: Config | None = None
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("faultmgr"))
    dry_run: bool = False
    #: the plugin manager's hook relay, for plugins that call hooks of their own (``hook.my_hook(...)``)
    hook: Any = None

    def component(self, kind: str, name: str) -> Any:
        """Another instance: ``runtime.component("detector", "hb")``; ``None`` when there is none."""
        return self.components.get(kind, {}).get(name)
