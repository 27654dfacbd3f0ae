"""Hook implementations of faultmgr-api: the ``api:`` section, the server's life, the command line's HTTP
transport and the ``nodes`` command."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from faultmgr.config.sections import SectionRegistry
from faultmgr.config.types import check_private_file
from faultmgr.event import Event, Severity
from faultmgr.hookspecs import hookimpl
from faultmgr_api.settings import ApiSection
from faultmgr_api.tokens import load_tokens

if TYPE_CHECKING:
    import click

    from faultmgr.cli.client_config import ApiTarget
    from faultmgr.cli.transport import Transport
    from faultmgr.daemon import Daemon
    from faultmgr_api.server import ApiServer

log = logging.getLogger("faultmgr.api")
SECTION = "api"
#: Where the running server hangs on the daemon (the core has no slot for plugin state of its own).
_ATTR = "_faultmgr_api_server"
#: Tasks in flight (the event loop keeps only weak references to tasks).
_tasks: set[asyncio.Task[None]] = set()


def _spawn(coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(coro, name="faultmgr-api")
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


@hookimpl
def faultmgr_register_sections(registry: SectionRegistry) -> None:
    if SECTION in registry.RESERVED:
        # The core lists "api" among its own section names without declaring it (faultmgr/config/sections.py);
        # this plugin is the one that declares it, so lift the reservation on this registry only.
        registry.RESERVED = registry.RESERVED - {SECTION}  # type: ignore[misc]
    registry.register(SECTION, ApiSection, "HTTP API, Prometheus metrics and web dashboard: listen address, "
                                           "tokens file, TLS, body size limit")


@hookimpl
def faultmgr_validate_config(config: Any) -> list[str] | None:
    """A tokens file or TLS key that others can read, or a malformed tokens file, refuses the config (at
    ``faultmgr check`` and at a reload). A file that does not exist yet is left to start-up, as the core
    does for key files: the API then stays off and a ``faultmgr.component.failed`` event says why."""
    section = config.sections.get(SECTION)
    if not isinstance(section, ApiSection):
        return None
    problems = []
    if section.tokens_file.exists():
        try:
            load_tokens(section.tokens_file)
        except (ValueError, OSError) as exc:
            problems.append(f"api: {exc}")
    if section.tls_key is not None and section.tls_key.exists():
        try:
            check_private_file(section.tls_key, "api tls_key")
        except ValueError as exc:
            problems.append(f"api: {exc}")
    return problems or None


def _server(daemon: Daemon) -> ApiServer | None:
    return getattr(daemon, _ATTR, None)


async def _start(daemon: Daemon, section: ApiSection) -> None:
    from faultmgr_api.server import ApiServer

    try:
        server = ApiServer(daemon, section)
        setattr(daemon, _ATTR, server)
        await server.start()
    except Exception as exc:
        setattr(daemon, _ATTR, None)
        log.error("api: not started: %s: %s", type(exc).__name__, exc)
        daemon.emit(Event(kind="faultmgr.component.failed", source="faultmgr", subject="api",
                          severity=Severity.CRITICAL, labels={"component": "api"},
                          payload={"error": f"{type(exc).__name__}: {exc}"},
                          message=f"the HTTP API did not start: {exc}"))
        return
    _spawn(_stop_with(daemon, server))


async def _stop_with(daemon: Daemon, server: ApiServer) -> None:
    """Stop serving as soon as the daemon starts stopping (streams end before detectors stop)."""
    await daemon.stopping.wait()
    if _server(daemon) is server:
        setattr(daemon, _ATTR, None)
        await server.stop()


@hookimpl
def faultmgr_startup(daemon: Daemon) -> None:
    section = daemon.config.sections.get(SECTION)
    if isinstance(section, ApiSection):
        _spawn(_start(daemon, section))


@hookimpl
def faultmgr_reloaded(daemon: Daemon, changed: list[str]) -> None:
    section = daemon.config.sections.get(SECTION)
    server = _server(daemon)
    if server is not None and section == server.section:
        server.reload_tokens()  # the file may have changed even when the section did not
        return
    _spawn(_restart(daemon, server, section))


async def _restart(daemon: Daemon, server: ApiServer | None, section: Any) -> None:
    if server is not None:
        setattr(daemon, _ATTR, None)
        await server.stop()
    if isinstance(section, ApiSection):
        await _start(daemon, section)


@hookimpl
def faultmgr_shutdown(daemon: Daemon) -> None:
    server = _server(daemon)
    if server is not None:  # normally already stopped by _stop_with; this covers a stop without the event
        setattr(daemon, _ATTR, None)
        _spawn(server.stop())


@hookimpl
def faultmgr_cli_commands(cli: click.Group) -> None:
    from faultmgr_api.nodes_cli import nodes_command

    cli.add_command(nodes_command)


@hookimpl
def faultmgr_control_commands(commands: dict[str, Any]) -> None:
    from faultmgr_api.nodes_cli import nodes_request

    commands["nodes"] = nodes_request


@hookimpl
def faultmgr_control_transport(target: ApiTarget) -> Transport:
    """Every daemon command goes over ``POST /api/v1/control`` when an API address is configured."""
    from faultmgr_api.http_transport import ApiTransport

    return ApiTransport(target)
