"""Commands that run or talk to the daemon: ``run``, ``reload``, ``status``, ``alerts``, ``ack``, ``unack``,
``silence``, ``inject``.

Those that talk to a running daemon go through the HTTP API when an API address is configured, else the local
control socket (:mod:`faultmgr.cli.transport`), with the same flags and the same output either way: tables by
default, ``--json`` for scripts; an unreachable daemon is one line on stderr and exit code 2.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
from pathlib import Path
from typing import Any

import click

from faultmgr.cli.common import UserError, config_paths, load_or_exit
from faultmgr.cli.tables import table, when
from faultmgr.cli.transport import api_option, ask
from faultmgr.logs import setup as setup_logging

config_option = click.option("-c", "--config", "config", multiple=True, type=click.Path(),
                             help="rule file or directory (repeatable; default $FAULTMGR_CONFIG or "
                                  "/etc/faultmgr/faultmgr.yaml)")
json_option = click.option("--json", "as_json", is_flag=True, help="print the daemon's answer as JSON")


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


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def daemon_options(func: Any) -> Any:
    """``-c/--config`` (to find the control socket) and ``--api`` (to use the HTTP API instead)."""
    return config_option(api_option(func))


@click.command("reload")
@daemon_options
def reload_command(config: tuple[str, ...], api: str | None) -> None:
    """Ask the running daemon to reload its config (as SIGHUP does) and report the outcome.

    Example: faultmgr reload -c /etc/faultmgr/
    """
    answer = ask(config, api, "reload")
    click.echo(f"reloaded; changed: {', '.join(answer.get('changed', [])) or 'nothing'}")


@click.command("status")
@daemon_options
@json_option
def status_command(config: tuple[str, ...], api: str | None, as_json: bool) -> None:
    """Show the running daemon's state: components, counters, loop lag, outbox depth.

    Example: faultmgr status --json
    """
    status = ask(config, api, "status")["status"]
    if as_json:
        _print_json(status)
        return
    click.echo(f"node {status['node']} (pid {status['pid']}), up since {when(status['started_at'])}")
    click.echo(f"firing alerts: {status['alerts']['firing']}, outbox depth: {status['outbox_depth']}, "
               f"loop lag: {status['loop_lag_ms']} ms (max {status['loop_lag_max_ms']} ms)")
    rows = [(kind, name, info.get("type", "")) for kind, items in status["components"].items()
            for name, info in items.items()]
    if rows:
        click.echo("\n" + table(("kind", "name", "type"), rows))


def _choices(raw: str | None, allowed: tuple[str, ...], name: str) -> list[str]:
    values = [v for v in (p.strip() for p in (raw or "").split(",")) if v]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise click.BadParameter(f"{bad[0]!r} is not one of {', '.join(allowed)}", param_hint=name)
    return values


@click.command("alerts")
@daemon_options
@click.option("--state", help="pending, firing, resolved (comma-separated; default pending and firing; "
                               "resolved: the newest 100 from the journal)")
@click.option("--severity", help="info, warning, critical (comma-separated)")
@click.option("--rule", help="rule name glob")
@click.option("--subject", help="subject glob")
@json_option
def alerts_command(config: tuple[str, ...], api: str | None, state: str | None, severity: str | None,
                   rule: str | None, subject: str | None, as_json: bool) -> None:
    """List active alerts (firing and pending), with acknowledgement and muting.

    Example: faultmgr alerts --severity critical --subject 'web*'
    """
    states = _choices(state, ("pending", "firing", "resolved"), "--state")
    severities = _choices(severity, ("info", "warning", "critical"), "--severity")
    states = states or ["pending", "firing"]
    reply = ask(config, api, "alerts", resolved=True) if "resolved" in states else ask(config, api, "alerts")
    alerts = [a for a in reply["alerts"]
              if (not states or a["state"] in states) and (not severities or a["severity"] in severities)
              and (rule is None or fnmatch.fnmatchcase(a["rule"], rule))
              and (subject is None or fnmatch.fnmatchcase(a["subject"], subject))]
    if as_json:
        _print_json(alerts)
        return
    if not alerts:
        click.echo("no active alerts")
        return
    rows = [(a["id"], a["state"], a["severity"], a["rule"], a["subject"], when(a["starts_at"]),
             a.get("acknowledged_by"), a.get("muted")) for a in alerts]
    click.echo(table(("id", "state", "severity", "rule", "subject", "since", "acked by", "muted"), rows))


comment_option = click.option("-m", "--comment", default="", help="why, for the journal")


def _changed(item: dict[str, Any], as_json: bool, line: str) -> None:
    """What a change command got back: the object as JSON with ``--json``, else one line for people."""
    if as_json:
        _print_json(item)
    else:
        click.echo(line)


@click.command("ack")
@daemon_options
@click.argument("alert_id", type=int)
@comment_option
@json_option
def ack_command(config: tuple[str, ...], api: str | None, alert_id: int, comment: str, as_json: bool) -> None:
    """Acknowledge an alert: its repeats and escalations stop.

    Example: faultmgr ack 42 -m "replacing the disk"
    """
    alert = ask(config, api, "ack", id=alert_id, comment=comment)["alert"]
    _changed(alert, as_json, f"alert #{alert_id} acknowledged by {alert.get('acknowledged_by')}")


@click.command("unack")
@daemon_options
@click.argument("alert_id", type=int)
@json_option
def unack_command(config: tuple[str, ...], api: str | None, alert_id: int, as_json: bool) -> None:
    """Take an acknowledgement back: the alert repeats and escalates again.

    Example: faultmgr unack 42
    """
    alert = ask(config, api, "unack", id=alert_id)["alert"]
    _changed(alert, as_json, f"alert #{alert_id} no longer acknowledged")


@click.group("silence")
def silence_group() -> None:
    """Silences: label matchers and a duration; matching alerts are not notified.

    Example: faultmgr silence add subject=web1 --for 2h -m "maintenance"
    """


@silence_group.command("add")
@daemon_options
@click.argument("matchers", nargs=-1, required=True)
@click.option("-d", "--for", "--duration", "duration", default="1h", show_default=True,
              help="how long (500ms, 30m, 2h, ...)")
@click.option("-m", "--comment", default="", help="why")
@json_option
def silence_add(config: tuple[str, ...], api: str | None, matchers: tuple[str, ...], duration: str, comment: str,
                as_json: bool) -> None:
    """Silence alerts whose labels match every MATCHER (name=value, name!=value, name=~regex, name!~regex).

    Example: faultmgr silence add 'rule=web-down' 'subject=~web[12]' --for 2h -m "maintenance"
    """
    silence = ask(config, api, "silence.add", matchers=list(matchers), duration=duration,
                   comment=comment)["silence"]
    _changed(silence, as_json, f"silence #{silence['id']} until {when(silence['ends_at'])}")


@silence_group.command("list")
@daemon_options
@click.option("--all", "include_all", is_flag=True, help="include expired silences")
@json_option
def silence_list(config: tuple[str, ...], api: str | None, include_all: bool, as_json: bool) -> None:
    """List silences (those not yet ended; --all for every one).

    Example: faultmgr silence list --json
    """
    silences = ask(config, api, "silence.list", all=include_all)["silences"]
    if as_json:
        _print_json(silences)
        return
    if not silences:
        click.echo("no silences")
        return
    rows = [(s["id"], " ".join(s["matchers"]), when(s["ends_at"]), s["author"], s["comment"]) for s in silences]
    click.echo(table(("id", "matchers", "until", "author", "comment"), rows))


@silence_group.command("expire")
@daemon_options
@click.argument("silence_id", type=int)
@json_option
def silence_expire(config: tuple[str, ...], api: str | None, silence_id: int, as_json: bool) -> None:
    """End a silence now.

    Example: faultmgr silence expire 3
    """
    silence = ask(config, api, "silence.expire", id=silence_id)["silence"]
    _changed(silence, as_json, f"silence #{silence_id} expired")


@click.command("inject")
@daemon_options
@click.argument("kind")
@click.argument("subject")
@click.option("--source", default="external", show_default=True, help="an 'external' detector of the config")
@click.option("--severity", default="critical", show_default=True)
@click.option("-l", "--label", "labels", multiple=True, help="name=value (repeatable)")
def inject_command(config: tuple[str, ...], api: str | None, kind: str, subject: str, source: str, severity: str,
                   labels: tuple[str, ...]) -> None:
    """Inject an event into the running daemon (to test rules and receivers end to end).

    Example: faultmgr inject probe.failed web1 --source ext --severity critical
    """
    parsed = dict(item.split("=", 1) for item in labels if "=" in item)
    ask(config, api, "inject", event={"kind": kind, "subject": subject, "source": source, "severity": severity,
                                  "labels": parsed})
    click.echo("injected")


COMMANDS = [run_command, reload_command, status_command, alerts_command, ack_command, unack_command,
            silence_group, inject_command]

#: older name, kept for plugins written against it
_socket = control_socket
