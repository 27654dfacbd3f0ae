"""``faultmgr nodes``: heartbeat peers with their paths, and who holds each VIP (the view the API's
``/api/v1/nodes`` gives), through the HTTP API or the control socket like every daemon command."""

from __future__ import annotations

import json
from typing import Any

import click

from faultmgr.cli.daemon_cmds import daemon_options
from faultmgr.cli.tables import table
from faultmgr.cli.transport import ask


async def nodes_request(daemon: Any, who: str, request: dict[str, Any]) -> dict[str, Any]:
    """Control request ``nodes``: this node, its heartbeat peers and paths, the VIPs."""
    from faultmgr_api.cluster import nodes_view

    return {"ok": True, "nodes": nodes_view(daemon)}


def render(nodes: dict[str, Any]) -> str:
    """The nodes view as two tables."""
    peers = [(p["peer"], p["state"], path["name"], "" if path["last_seen_ms_ago"] is None
              else f"{path['last_seen_ms_ago'] / 1000:.1f}s ago") for p in nodes["peers"] for path in p["paths"]]
    vips = [(v["vip"], v["interface"], v["holder"] or ("not here" if v["held"] is False else "unknown"),
             v["action"]) for v in nodes["vips"]]
    return "\n\n".join([f"node {nodes['node']}", table(("peer", "state", "path", "last beat"), peers),
                        table(("vip", "interface", "held by", "action"), vips)])


@click.command("nodes")
@daemon_options
@click.option("--json", "as_json", is_flag=True, help="print the daemon's answer as JSON")
def nodes_command(config: tuple[str, ...], api: str | None, as_json: bool) -> None:
    """Show heartbeat peers with each path's last beat, and who holds each VIP.

    Example: faultmgr nodes --api https://head-a:9467
    """
    nodes = ask(config, api, "nodes")["nodes"]
    click.echo(json.dumps(nodes, indent=2, default=str) if as_json else render(nodes))
