"""How a command reaches the running daemon: the local control socket, or a plugin's transport (the HTTP API)
when an API address is configured (:mod:`faultmgr.cli.client_config`).

Either way a command sends the same control request (``alerts``, ``silence.add``, ``pool.drain``, ...) and gets
the same answer, so the output is the same. Plugins provide transports through the
``faultmgr_control_transport`` hook; the core names none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import click

from faultmgr.cli.client_config import ApiTarget, ClientConfigError, api_target
from faultmgr.cli.common import UserError
from faultmgr.control import ControlError, ControlRefused, request

#: How long the control socket's answer may take unless a request says.
SOCKET_TIMEOUT_S = 30.0

api_option = click.option(
    "--api", "api", default=None, metavar="URL",
    help="talk to the daemon's HTTP API at URL instead of the local control socket (default $FAULTMGR_API_URL, "
         "then `url:` of ~/.config/faultmgr/client.yaml or /etc/faultmgr/client.yaml; 'local' forces the "
         "socket); the token comes from $FAULTMGR_API_TOKEN, $FAULTMGR_API_TOKEN_FILE or that file")


class Transport(Protocol):
    """Carries one control request to the daemon and brings its answer back.

    ``request`` raises :class:`faultmgr.control.ControlRefused` when the daemon answered and refused, and
    :class:`faultmgr.control.ControlError` (with one clear line) when it could not be reached.
    """

    #: Where requests go, for messages: a socket path or a URL.
    where: str

    def request(self, cmd: str, timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """Send ``{"cmd": cmd, **args}``; the answer (``{"ok": True, ...}``) or an exception. ``timeout``: how
        long the answer may take (a request that waits, such as a pool drain, gives it), else the transport's
        own default."""
        ...


class SocketTransport:
    """The local control socket (:func:`faultmgr.control.request`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def request(self, cmd: str, timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """One request on the socket (30 s for the answer unless ``timeout`` says)."""
        try:
            return request(self.path, cmd, timeout=SOCKET_TIMEOUT_S if timeout is None else timeout, **args)
        except OSError as exc:  # anything the socket raises beyond what request() words itself
            raise ControlError(f"cannot talk to the daemon at {self.path}: {exc}") from None


def api_transport(target: ApiTarget) -> Transport:
    """The transport a plugin provides for ``target``; :class:`UserError` when none does."""
    from faultmgr.plugin.manager import load_plugins

    transport: Transport | None = load_plugins().hook.faultmgr_control_transport(target=target)
    if transport is None:
        raise UserError(f"an API address is configured ({target.url}, from {target.origin}) but no installed "
                        f"plugin provides an HTTP transport; use --api local for the control socket")
    return transport


def transport_for(config: Sequence[str], api: str | None) -> Transport:
    """The API's transport when an address is configured, else the control socket found from ``config``."""
    from faultmgr.cli.daemon_cmds import control_socket  # there: it reads the rule files' daemon section

    try:
        target = api_target(api)
    except ClientConfigError as exc:
        raise UserError(str(exc)) from None
    if target is not None:
        return api_transport(target)
    return SocketTransport(control_socket(tuple(config)))


def ask(config: Sequence[str], api: str | None, cmd: str, **args: Any) -> dict[str, Any]:
    """One control request through :func:`transport_for`; when the daemon cannot be reached or refuses, one
    line on stderr (plus the details a refused reload gives) and exit code 2 (:class:`UserError`)."""
    try:
        return transport_for(config, api).request(cmd, **args)
    except ControlRefused as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        raise UserError(str(exc)) from None
    except ControlError as exc:
        raise UserError(str(exc)) from None
