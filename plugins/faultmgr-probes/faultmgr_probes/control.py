"""`faultmgr probe maintenance TARGET on|off` and `faultmgr probe list`: the maintenance switch of a real
server, set in the running daemon through its control socket (or its HTTP API when one is configured: see
:mod:`faultmgr.cli.transport`), kept across restarts, journalled with who."""

from __future__ import annotations

import json
from typing import Any

import click

from faultmgr.cli.common import UserError
from faultmgr.cli.daemon_cmds import config_option
from faultmgr.cli.transport import api_option, transport_for
from faultmgr.control import ControlError, ControlRefused
from faultmgr_probes.detector import ProbeDetector


def _probes(daemon: Any, name: str | None) -> list[ProbeDetector]:
    found = [c for c in daemon.instances["detector"].values() if isinstance(c, ProbeDetector)]
    if name is not None:
        found = [c for c in found if c.name == name]
        if not found:
            raise KeyError(f"no probe detector {name!r}")
    return found


async def maintenance_request(daemon: Any, who: str, req: dict[str, Any]) -> dict[str, Any]:
    """Control request ``probe.maintenance``: ``target``, ``on`` (bool), optional ``detector``."""
    target, on = req.get("target"), req.get("on")
    if not isinstance(target, str) or not isinstance(on, bool):
        raise ValueError("probe.maintenance needs 'target' (a string) and 'on' (true or false)")
    probes = [p for p in _probes(daemon, req.get("detector")) if target in p.aliases]
    if not probes:
        raise KeyError(f"no probe target {target!r}")
    for probe in probes:
        probe.set_maintenance(target, on)
    daemon.journal.record_control(who, "probe.maintenance", f"target {target}", "on" if on else "off",
                                  daemon.clock.now())
    return {"ok": True, "target": target, "maintenance": on, "detectors": [p.name for p in probes]}


async def list_request(daemon: Any, who: str, req: dict[str, Any]) -> dict[str, Any]:
    """Control request ``probe.list``: every probe target with its state."""
    return {"ok": True, "detectors": {p.name: p.status().get("targets", {}) for p in _probes(daemon, None)}}


def _ask(config: tuple[str, ...], api: str | None, cmd: str, **args: Any) -> dict[str, Any]:
    """Through the HTTP API when one is configured, else the control socket; a refusal exits 1, an
    unreachable daemon 2."""
    try:
        return transport_for(config, api).request(cmd, **args)
    except ControlRefused as exc:
        click.echo(f"faultmgr: {exc}", err=True)
        raise SystemExit(1) from None
    except ControlError as exc:
        raise UserError(str(exc)) from None


@click.group("probe")
def probe_group() -> None:
    """Probe targets of the running daemon: list them, switch maintenance on and off.

    Example: faultmgr probe maintenance web1 on
    """


@probe_group.command("list")
@config_option
@api_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def list_command(config: tuple[str, ...], api: str | None, as_json: bool) -> None:
    """List probe targets with their state.

    Example: faultmgr probe list -c /etc/faultmgr/
    """
    answer = _ask(config, api, "probe.list")
    if as_json:
        click.echo(json.dumps(answer["detectors"], indent=2, default=str))
        return
    for detector, targets in answer["detectors"].items():
        for name, info in targets.items():
            click.echo(f"{detector:12} {name:20} {info.get('check', ''):8} {info.get('host', '')}:"
                       f"{info.get('port', '')}  {info.get('state', '')}")


@probe_group.command("maintenance")
@config_option
@api_option
@click.argument("target")
@click.argument("switch", type=click.Choice(["on", "off"]))
@click.option("--detector", help="only this probe detector (default: every one that has the target)")
def maintenance_command(config: tuple[str, ...], api: str | None, target: str, switch: str, detector: str | None) -> None:
    """Put a probe target in maintenance (not checked, no alerts) or take it out; survives restarts.

    Example: faultmgr probe maintenance web1 on
    """
    args: dict[str, Any] = {"target": target, "on": switch == "on"}
    if detector:
        args["detector"] = detector
    answer = _ask(config, api, "probe.maintenance", **args)
    click.echo(f"{target}: maintenance {switch} ({', '.join(answer['detectors'])})")
