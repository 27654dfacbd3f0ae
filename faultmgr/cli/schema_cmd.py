"""``faultmgr schema``: the JSON Schema of rule files, installed plugins included."""

from __future__ import annotations

import json

import click

from faultmgr.cli.common import report_plugin_failures
from faultmgr.config.schema import json_schema
from faultmgr.plugin.manager import load_plugins


@click.command("schema")
@click.option("--indent", type=int, default=2, show_default=True, help="JSON indentation")
@click.option("--markdown", is_flag=True, help="print the rule-file reference in Markdown instead")
def schema_command(indent: int, markdown: bool) -> None:
    """Print the JSON Schema of rule files (core and installed plugins), for editors and CI.

    Example: faultmgr schema > faultmgr.schema.json
    """
    plugins = load_plugins()
    report_plugin_failures(plugins)
    if markdown:
        from faultmgr.config.reference import reference

        click.echo(reference(plugins), nl=False)
        return
    click.echo(json.dumps(json_schema(plugins), indent=indent, sort_keys=True))


COMMANDS = [schema_command]
