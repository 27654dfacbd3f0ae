"""The ``faultmgr`` command line: a click group, the core's commands, and those plugins add."""

from __future__ import annotations

import sys

import click

from faultmgr import __version__
from faultmgr.cli import check, daemon_cmds, history, notify_test, plugins_cmd, schema_cmd, simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="faultmgr")
def cli() -> None:
    """faultmgr — fault management and alerting for Linux HA clusters.

    Detectors (heartbeat, probes, audit logs) emit events; rule files turn them into alerts, actions
    (VIP takeover, pool reweighting) and pages (e-mail, SMS, SNMP). Start with `faultmgr demo` (plugin
    faultmgr-demo, installed by `make demo`) or `faultmgr check` on a rule file.

    Commands that talk to a running daemon (status, alerts, ack, silence, pool, ...) use its local control
    socket, or its HTTP API when --api URL, $FAULTMGR_API_URL or ~/.config/faultmgr/client.yaml names one.
    """


def build_cli() -> click.Group:
    """The command group with every core command and the plugins' (``faultmgr_cli_commands``)."""
    for module in (check, schema_cmd, plugins_cmd, daemon_cmds, simulate, history, notify_test):
        for command in module.COMMANDS:
            cli.add_command(command)
    from faultmgr.plugin.manager import load_plugins

    plugins = load_plugins()
    for impl in plugins.hook.faultmgr_cli_commands.get_hookimpls():
        try:  # one plugin's broken command must not hide the others'
            impl.function(cli=cli)
        except Exception as exc:
            click.echo(f"faultmgr: warning: commands of plugin {impl.plugin_name} unavailable: "
                       f"{type(exc).__name__}: {exc}", err=True)
    return cli


def main() -> None:
    """Console-script entry point."""
    group = build_cli()
    sys.exit(group.main(prog_name="faultmgr", standalone_mode=True))
