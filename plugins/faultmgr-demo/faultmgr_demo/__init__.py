"""``faultmgr demo``: an HA-OSCAR-shaped cluster built on this machine, with faults injected one after another.

As root the cluster is a lab of network namespaces (two head nodes sharing a VIP, three real servers behind
an HAProxy pool, a client, an eHB watcher, and local sinks standing in for the pager gateway and the
management station), run by real ``faultmgr run`` daemons. Without root the same story runs on loopback with
the VIP and pool actions in dry run. The plugin adds the ``demo`` command and the ``demo.vip`` stand-in action
that the loopback story uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faultmgr import hookimpl
from faultmgr_demo.standin import StandInVip

if TYPE_CHECKING:
    import click

    from faultmgr.component import Action
    from faultmgr.plugin.registry import TypeRegistry

__all__ = ["StandInVip", "faultmgr_cli_commands", "faultmgr_register_actions"]


@hookimpl
def faultmgr_register_actions(registry: TypeRegistry[Action]) -> None:
    """Register ``demo.vip``, the VIP stand-in of the loopback story."""
    registry.register("demo.vip", StandInVip)


@hookimpl
def faultmgr_cli_commands(cli: click.Group) -> None:
    """Add ``faultmgr demo``."""
    from faultmgr_demo.command import demo_command

    cli.add_command(demo_command)
