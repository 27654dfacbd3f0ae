"""``faultmgr plugins``: what is installed, what it registers, and what failed to load."""

from __future__ import annotations

import json
from typing import Any

import click

from faultmgr.plugin.manager import load_plugins


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("-v", "--verbose", is_flag=True, help="show tracebacks of plugins that failed")
def plugins_command(as_json: bool, verbose: bool) -> None:
    """List plugins: name, kinds, the types each registers, distribution and version.

    Example: FAULTMGR_DISABLE_PLUGINS=snmp faultmgr plugins
    """
    plugins = load_plugins()
    rows: list[dict[str, Any]] = [{"name": p.name, "kinds": p.kinds, "registers": p.registered, "distribution": p.distribution,
             "version": p.version, "status": "loaded"} for p in plugins.loaded]
    rows += [{"name": f.name, "kinds": [], "registers": {}, "distribution": f.distribution, "version": f.version,
              "status": f"failed: {f.error}"} for f in plugins.failures]
    rows += [{"name": n, "kinds": [], "registers": {}, "distribution": "", "version": "", "status": "disabled"}
             for n in plugins.disabled]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = ("PLUGIN", "KINDS", "TYPES", "DISTRIBUTION", "STATUS")
    table = [header] + [
        (r["name"], ",".join(k.rstrip("s") for k in r["kinds"]) or "-",
         ",".join(n for names in r["registers"].values() for n in names) or "-",
         f"{r['distribution']} {r['version']}".strip() or "-", r["status"])
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    if verbose:
        for failure in plugins.failures:
            click.echo(f"\n{failure.name} ({failure.distribution}):\n{failure.traceback}", err=True)


COMMANDS = [plugins_command]
