"""Commands that run or talk to the daemon: ``run``, ``reload``, ``status``, ``alerts``, ``ack``, ``silence``,
``inject``."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import click

from faultmgr.cli.common import UserError, config_paths, load_or_exit
from faultmgr.control import ControlError, ControlRefused, request
from faultmgr.logs import setup as setup_logging

config_option = click.option("-c", "--config", "config", multiple=True, type=click.Path(),
                             help="rule file or directory (repeatable; default $FAULTMGR_CONFIG or "
                                  "/etc/faultmgr/faultmgr.yaml)")


@click.command("run")
@config_option
@click.option("--dry-run", is_flag=True, help="actions that change the system only say what they would do")
def run_command(config: tuple[str, ...], dry_run: bool) -> None:
    """Run the daemon in the foreground (systemd: Type=notify).

    SIGHUP reloads the config (a bad one is refused and the old keeps running); SIGTERM drains in-flight
    notifications and stops.

    Example: faultmgr run -c /etc/faultmgr/
    """
    from faultmgr.daemon import Daemon, StartupError

    paths = config_paths(config)
    cfg, plugins = load_or_exit(paths)
    setup_logging(cfg.daemon.log_level, cfg.daemon.log_format)
    for warning in cfg.warnings:
        click.echo(str(warning), err=True)
    daemon = Daemon(paths, plugins, cfg, dry_run=dry_run)
    try:
        code = asyncio.run(daemon.run())
    except StartupError as exc:
        raise UserError(str(exc)) from None
    raise SystemExit(code)


def control_socket(config: tuple[str, ...]) -> Path:
    """The control socket, found from ``daemon.state_dir`` without validating the rest: a config with
    errors must not stop `faultmgr reload` from asking the daemon (which then reports the errors)."""
    from faultmgr.config.build import read_all
    from faultmgr.config.model import DaemonSection

    state_dir = DaemonSection.model_fields["state_dir"].default
    docs, _ = read_all(config_paths(config))
    for doc in docs:
        section = doc.data.get("daemon")
        if isinstance(section, dict) and isinstance(section.get("state_dir"), str):
            state_dir = section["state_dir"]
    return Path(state_dir) / "control.sock"


def _ask(config: tuple[str, ...], cmd: str, **args: Any) -> dict[str, Any]:
    try:
        return request(control_socket(config), cmd, **args)
    except ControlError as exc:
        raise UserError(str(exc)) from None


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


@click.command("reload")
@config_option
def reload_command(config: tuple[str, ...]) -> None:
    """Ask the running daemon to reload its config (as SIGHUP does) and report the outcome.

    Example: faultmgr reload -c /etc/faultmgr/
    """
    try:
        answer = request(control_socket(config), "reload")
    except ControlRefused as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        raise UserError(str(exc)) from None
    except ControlError as exc:
        raise UserError(str(exc)) from None
    click.echo(f"reloaded; changed: {', '.join(answer.get('changed', [])) or 'nothing'}")


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def status_command(config: tuple[str, ...], as_json: bool) -> None:
    """Show the running daemon's state: components, counters, loop lag, outbox depth.

    Example: faultmgr status --json
    """
    status = _ask(config, "status")["status"]
    if as_json:
        click.echo(json.dumps(status, indent=2, default=str))
        return
    click.echo(f"node {status['node']} (pid {status['pid']}), up since {_when(status['started_at'])}")
    click.echo(f"firing alerts: {status['alerts']['firing']}, outbox depth: {status['outbox_depth']}, "
               f"loop lag: {status['loop_lag_ms']} ms (max {status['loop_lag_max_ms']} ms)")
    for kind, table in status["components"].items():
        for name, info in table.items():
            click.echo(f"  {kind:9} {name:20} {info.get('type', '')}")


@click.command("alerts")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def alerts_command(config: tuple[str, ...], as_json: bool) -> None:
    """List active alerts (firing and pending), with acknowledgement and muting.

    Example: faultmgr alerts
    """
    alerts = _ask(config, "alerts")["alerts"]
    if as_json:
        click.echo(json.dumps(alerts, indent=2, default=str))
        return
    if not alerts:
        click.echo("no active alerts")
    for a in alerts:
        extra = f" ack by {a['acknowledged_by']}" if a.get("acknowledged_by") else ""
        extra += f" ({a['muted']})" if a.get("muted") else ""
        click.echo(f"#{a['id']:<5} {a['state']:8} {a['severity']:8} {a['rule']:24} {a['subject']:20} "
                   f"since {_when(a['starts_at'])}{extra}")


@click.command("ack")
@config_option
@click.argument("alert_id", type=int)
@click.option("-m", "--comment", default="", help="why, for the journal")
def ack_command(config: tuple[str, ...], alert_id: int, comment: str) -> None:
    """Acknowledge an alert: its repeats and escalations stop.

    Example: faultmgr ack 42 -m "replacing the disk"
    """
    _ask(config, "ack", id=alert_id, comment=comment)
    click.echo(f"alert #{alert_id} acknowledged")


@click.group("silence")
def silence_group() -> None:
    """Silences: label matchers and a duration; matching alerts are not notified.

    Example: faultmgr silence add subject=web1 --for 2h -m "maintenance"
    """


@silence_group.command("add")
@config_option
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", default="1h", show_default=True, help="how long (500ms, 30m, 2h, ...)")
@click.option("-m", "--comment", default="", help="why")
def silence_add(config: tuple[str, ...], matchers: tuple[str, ...], duration: str, comment: str) -> None:
    """Add a silence: faultmgr silence add 'rule=web-down' 'subject=~web[12]' --for 2h -m why"""
    silence = _ask(config, "silence.add", matchers=list(matchers), duration=duration, comment=comment)["silence"]
    click.echo(f"silence #{silence['id']} until {_when(silence['ends_at'])}")


@silence_group.command("list")
@config_option
@click.option("--all", "include_all", is_flag=True, help="include expired silences")
def silence_list(config: tuple[str, ...], include_all: bool) -> None:
    """List silences: faultmgr silence list"""
    for s in _ask(config, "silence.list", all=include_all)["silences"]:
        click.echo(f"#{s['id']:<4} {' '.join(s['matchers']):40} until {_when(s['ends_at'])} by {s['author']}: "
                   f"{s['comment']}")


@silence_group.command("expire")
@config_option
@click.argument("silence_id", type=int)
def silence_expire(config: tuple[str, ...], silence_id: int) -> None:
    """End a silence now: faultmgr silence expire 3"""
    _ask(config, "silence.expire", id=silence_id)
    click.echo(f"silence #{silence_id} expired")


@click.command("inject")
@config_option
@click.argument("kind")
@click.argument("subject")
@click.option("--source", default="external", show_default=True, help="an 'external' detector of the config")
@click.option("--severity", default="critical", show_default=True)
@click.option("-l", "--label", "labels", multiple=True, help="name=value (repeatable)")
def inject_command(config: tuple[str, ...], kind: str, subject: str, source: str, severity: str,
                   labels: tuple[str, ...]) -> None:
    """Inject an event into the running daemon (to test rules and receivers end to end).

    Example: faultmgr inject probe.failed web1 --source ext --severity critical
    """
    parsed = dict(item.split("=", 1) for item in labels if "=" in item)
    _ask(config, "inject", event={"kind": kind, "subject": subject, "source": source, "severity": severity,
                                  "labels": parsed})
    click.echo("injected")


COMMANDS = [run_command, reload_command, status_command, alerts_command, ack_command, silence_group,
            inject_command]

#: older name, kept for plugins written against it
_socket = control_socket
