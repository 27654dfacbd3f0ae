"""``faultmgr history``: query the journal (works with or without a running daemon)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from faultmgr.cli.common import UserError, config_paths, load_or_exit
from faultmgr.config.types import parse_duration
from faultmgr.engine.journal import Journal


@click.command("history")
@click.option("-c", "--config", "config", multiple=True, type=click.Path(), help="rule file or directory")
@click.option("--kind", help="event kind glob, e.g. 'probe.*'")
@click.option("--subject", help="subject glob")
@click.option("--source", help="detector name glob")
@click.option("--since", help="only this recent (e.g. 1h, 2d)")
@click.option("-n", "--limit", default=50, show_default=True, help="at most this many")
@click.option("--what", type=click.Choice(["events", "actions", "notifications", "control"]), default="events",
              show_default=True, help="which journal to show")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def history_command(config: tuple[str, ...], kind: str | None, subject: str | None, source: str | None,
                    since: str | None, limit: int, what: str, as_json: bool) -> None:
    """Show journalled events, action runs, notifications or control actions, newest first.

    Example: faultmgr history --kind 'heartbeat.*' --since 1h
    """
    try:
        window = parse_duration(since) if since else None
    except ValueError as exc:
        raise UserError(f"--since {since!r}: {exc}") from None
    cfg, _ = load_or_exit(config_paths(config))
    path = Path(cfg.daemon.state_dir) / "journal.db"
    if not path.exists():
        raise UserError(f"no journal at {path} (has the daemon run with this config?)")
    journal = Journal(path)
    try:
        if what == "events":
            start = time.time() - window if window is not None else None
            rows = journal.events(kind=kind, subject=subject, source=source, since=start, limit=limit)
        elif what == "actions":
            rows = journal.action_runs(limit)
        elif what == "control":
            rows = journal.control_log(limit)
        else:
            from faultmgr.clock import SystemClock
            from faultmgr.engine.outbox import Outbox

            rows = Outbox(journal, SystemClock()).rows(limit)
    finally:
        journal.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        stamp = row.get("time") or row.get("started_at") or row.get("created_at")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"
        rest = {k: v for k, v in row.items() if k not in ("time", "started_at", "created_at", "labels", "payload")}
        click.echo(f"{when}  " + "  ".join(f"{k}={v}" for k, v in rest.items() if v not in ("", None)))


COMMANDS = [history_command]
