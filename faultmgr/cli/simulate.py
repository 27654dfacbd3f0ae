"""``faultmgr simulate``: replay events through the rules with a virtual clock."""

from __future__ import annotations

import json
from pathlib import Path

import click

from faultmgr.cli.common import UserError, load_or_exit
from faultmgr.config.types import parse_duration
from faultmgr.simulate import EventFileError, Simulation, read_events, timeline_json, timeline_lines


@click.command("simulate")
@click.option("-c", "--config", "config", multiple=True, required=True, type=click.Path(),
              help="rule file or directory (repeatable)")
@click.argument("events", type=click.Path(exists=True, dir_okay=False))
@click.option("--settle", default="0s", show_default=True, help="keep the clock running this long after the "
                                                                "last event (to see for:, group waits, escalations)")
@click.option("--json", "as_json", is_flag=True, help="print the timeline as JSON")
def simulate_command(config: tuple[str, ...], events: str, settle: str, as_json: bool) -> None:
    """Replay EVENTS (JSON lines) through the rules with a virtual clock and print, in order, which alerts
    opened, grouped and resolved and which notifications and actions would run. Nothing is sent.

    Each line: {"at": 5, "kind": "probe.failed", "source": "probes", "subject": "web1", "severity": "critical"}
    ("at" is seconds from the start; "time" takes an epoch instead).

    Example: faultmgr simulate -c rules/ events.jsonl --settle 10m
    """
    cfg, plugins = load_or_exit(list(config))
    sim = Simulation.build(cfg, hook=None)
    try:
        items = read_events(Path(events), sim.clock.now())
    except EventFileError as exc:
        raise UserError(str(exc)) from None
    try:
        settle_s = parse_duration(settle)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--settle") from None
    sim.run(items, settle=settle_s)
    if as_json:
        click.echo(json.dumps(timeline_json(sim), indent=2, default=str))
    else:
        for line in timeline_lines(sim):
            click.echo(line)


COMMANDS = [simulate_command]
