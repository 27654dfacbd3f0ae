"""Every hook faultmgr calls, in one namespace (``faultmgr``).

Hooks are synchronous. Registration hooks hand *types* to a registry; the daemon then drives the ``async``
methods of the objects it builds from those types. A hook implementation must never return a coroutine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from faultmgr.alert import AlertView
    from faultmgr.cli.client_config import ApiTarget
    from faultmgr.cli.transport import Transport
    from faultmgr.component import Action, Detector, Notifier
    from faultmgr.config.sections import SectionRegistry
    from faultmgr.daemon import Daemon
    from faultmgr.event import Event
    from faultmgr.plugin.registry import TypeRegistry

hookspec = pluggy.HookspecMarker("faultmgr")
hookimpl = pluggy.HookimplMarker("faultmgr")


@hookspec(historic=True)
def faultmgr_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add hook specifications of a plugin's own (for example a registry of parsers that other plugins fill).

    Called once for each plugin as soon as it is registered, before any other hook; historic, so plugins
    registered later still see it. Call ``pluginmanager.add_hookspecs(module)``.

    :param pluginmanager: the faultmgr plugin manager.
    """


@hookspec
def faultmgr_register_detectors(registry: TypeRegistry[Detector]) -> None:
    """Register detector types: ``registry.register("heartbeat", HeartbeatDetector)``.

    Called once at start (by every command that loads the rule language: ``run``, ``check``, ``schema``,
    ``simulate``, ``plugins``), after all plugins are loaded and before any rule file is read.

    :param registry: the detector type registry; names must be unique across plugins.
    """


@hookspec
def faultmgr_register_actions(registry: TypeRegistry[Action]) -> None:
    """Register action types: ``registry.register("vip.takeover", VipTakeover)``.

    Called once at start, right after :func:`faultmgr_register_detectors`.

    :param registry: the action type registry.
    """


@hookspec
def faultmgr_register_notifiers(registry: TypeRegistry[Notifier]) -> None:
    """Register notifier types: ``registry.register("email", EmailNotifier)``.

    Called once at start, right after :func:`faultmgr_register_actions`.

    :param registry: the notifier type registry.
    """


@hookspec
def faultmgr_register_sections(registry: SectionRegistry) -> None:
    """Register a top-level rule-file section of a plugin's own (``pools:``, say) with its pydantic model.

    Called once at start, after the type registries are filled. The section's value is validated with the
    model and reachable at run time as ``runtime.config.sections[name]``.

    :param registry: the section registry: ``registry.register("pools", PoolsModel, "what it declares")``.
    """


@hookspec
def faultmgr_validate_config(config: Any) -> list[str] | None:
    """Check what types cannot: cross references between a plugin's section and the rest of the config.

    Called by ``faultmgr check`` and before the daemon (re)loads a config, after every key validated.

    :param config: the validated :class:`faultmgr.config.model.Config`.
    :return: one message per problem (each becomes an error naming the rule file), or ``None``.
    """


@hookspec
def faultmgr_startup(daemon: Daemon) -> None:
    """The daemon is about to start its detectors.

    Called once per ``faultmgr run`` after the journal is open and the instances are built, inside the
    running event loop (schedule async work with ``asyncio.get_running_loop().create_task``).

    :param daemon: the daemon.
    """


@hookspec
def faultmgr_reloaded(daemon: Daemon, changed: list[str]) -> None:
    """A new config was validated and is now in force (after SIGHUP or ``faultmgr reload``).

    Not called for a refused reload.

    :param daemon: the daemon.
    :param changed: the names of instances that were added, removed or restarted.
    """


@hookspec
def faultmgr_shutdown(daemon: Daemon) -> None:
    """The daemon is stopping: detectors are stopped, in-flight notifications were drained.

    Called once, inside the event loop, before the journal closes.

    :param daemon: the daemon.
    """


@hookspec
def faultmgr_event(event: Event) -> None:
    """Observe every event: called after the event is journalled and before rules evaluate it.

    Keep it quick: it runs on the engine's hot path, once per event. Raising is logged and ignored.

    :param event: the event (do not modify it).
    """


@hookspec
def faultmgr_alert_changed(alert: AlertView, change: str) -> None:
    """Observe alert changes: called after the journal records them.

    :param alert: a snapshot of the alert.
    :param change: one of ``pending``, ``firing``, ``resolved``, ``acknowledged``, ``unacknowledged``,
        ``silenced``, ``escalated``.
    """


@hookspec
def faultmgr_control_commands(commands: dict[str, Any]) -> None:
    """Add requests to the local control socket: ``commands["pool.drain"] = handler``.

    Called once when the daemon starts its control socket. A handler is
    ``async def handler(daemon, who, request) -> dict`` and answers ``{"ok": True, ...}`` or raises
    ``ValueError``/``KeyError`` with a message for the caller; ``who`` is the peer's user name, to journal.
    The core's own requests (``status``, ``ack``, ...) cannot be replaced.

    :param commands: request name -> handler; add to it.
    """


@hookspec
def faultmgr_cli_commands(cli: click.Group) -> None:
    """Add commands to the ``faultmgr`` command line: ``cli.add_command(my_command)``.

    Called once when the command line is built, before arguments are parsed.

    :param cli: the top-level click group.
    """


@hookspec(firstresult=True)
def faultmgr_control_transport(target: ApiTarget) -> Transport | None:
    """Provide the transport that carries the command line's control requests to a daemon's HTTP API.

    Called by commands that talk to a running daemon (``status``, ``alerts``, ``ack``, ``silence``, ``pool``
    ...) when an API address is configured (``--api``, ``$FAULTMGR_API_URL`` or the client config file); without
    one they use the local control socket. The first non-``None`` result is used. The transport's
    ``request(cmd, timeout, **args)`` must give the same answer as the control socket for the same request,
    and raise :class:`faultmgr.control.ControlError` (unreachable, one clear line) or
    :class:`faultmgr.control.ControlRefused` (the daemon said no).

    :param target: the API's URL, token, CA file and timeout, and where the URL came from.
    :return: a :class:`faultmgr.cli.transport.Transport`, or ``None`` when this plugin does not speak it.
    """
