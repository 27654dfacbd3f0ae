"""``faultmgr pool list|show|drain|add|weight``: operator commands that ask the running daemon, through the
HTTP API when one is configured (``--api``, ``$FAULTMGR_API_URL``, the client config file) and the local
control socket otherwise (:mod:`faultmgr.cli.transport`); the same output either way.

Exit codes: 0 done; 1 the daemon refused (unknown pool or server, server not healthy, load balancer
error); 2 the daemon is not reachable (as every other daemon command).
"""

from __future__ import annotations

import json
from typing import Any

import click

from faultmgr.cli.common import UserError
from faultmgr.cli.daemon_cmds import config_option
from faultmgr.cli.transport import api_option, transport_for
from faultmgr.control import ControlError, ControlRefused

#: Seconds a request may take beyond the wait it asks for (quiesce, removal, HAProxy's retried delete).
MARGIN_S = 30.0
json_option = click.option("--json", "as_json", is_flag=True, help="print the daemon's answer as JSON")


class Refused(click.ClickException):
    """The daemon answered but refused the request: one line on stderr, exit code 1."""

    exit_code = 1

    def show(self, file: object = None) -> None:
        click.echo(f"faultmgr: {self.format_message()}", err=True)


def ask(config: tuple[str, ...], api: str | None, cmd: str, args: dict[str, Any],
        timeout: float = 30.0) -> dict[str, Any]:
    """One request to the daemon, waiting at most ``timeout`` for the answer; :class:`UserError` (exit 2)
    when it cannot be reached, :class:`Refused` (exit 1) when it says no."""
    try:
        return transport_for(config, api).request(cmd, timeout=timeout, **args)
    except ControlRefused as exc:
        raise Refused(str(exc)) from None
    except ControlError as exc:
        raise UserError(str(exc)) from None


def _changes(report: dict[str, Any]) -> str:
    changes = "; ".join(report.get("changes", [])) or "no change needed"
    sorry = ", sorry server on" if report.get("sorry_active") else ""
    return f"{changes} ({report['serving']} serving, quorum {report['quorum']}{sorry})"


def _out(answer: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        click.echo(json.dumps(answer, indent=2, default=str))
    elif answer.get("dry_run"):
        click.echo(f"dry run (the daemon runs with --dry-run; the load balancer is unchanged): {text}")
    else:
        click.echo(text)


@click.group("pool")
def pool_group() -> None:
    """Show and change load-balancer pools through the running daemon: drain a real server, add one,
    set a weight. Changes are kept across restarts and journalled with your user name.

    Example: faultmgr pool drain web web1
    """


@pool_group.command("list")
@config_option
@api_option
@json_option
@click.argument("pool", required=False)
def list_command(config: tuple[str, ...], api: str | None, as_json: bool, pool: str | None) -> None:
    """List the pools (or one) with each server's declared and live weight, state and active connections.

    Example: faultmgr pool list web
    """
    _show(ask(config, api, "pool.list", {"pool": pool} if pool else {}), as_json)


@pool_group.command("show")
@config_option
@api_option
@json_option
@click.argument("pool")
def show_command(config: tuple[str, ...], api: str | None, as_json: bool, pool: str) -> None:
    """Show one POOL, as `pool list POOL` does.

    Example: faultmgr pool show web --json
    """
    _show(ask(config, api, "pool.list", {"pool": pool}), as_json)


def _show(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _out(answer, True, "")
        return
    if not answer["pools"]:
        click.echo("no pools declared")
    for item in answer["pools"]:
        live = f"unreachable: {item['live_error']}" if item["live_error"] else f"{item['serving']} serving"
        click.echo(f"pool {item['name']} ({item['backend']}, quorum {item['quorum']}): {live}")
        for s in item["servers"]:
            declared = "-" if s["declared_weight"] is None else s["declared_weight"]
            weight = "-" if s["weight"] is None else s["weight"]
            override = f"  override {json.dumps(s['override'])}" if s["override"] else ""
            click.echo(f"  {s['name']:16} {s['role']:10} {s['address']}:{s['port']:<6} weight {weight}/"
                       f"{declared:<4} {s['state']:6} active {s['active']}{override}")


@pool_group.command("drain")
@config_option
@api_option
@json_option
@click.option("--timeout", type=click.FloatRange(min=0), default=None,
              help="seconds to wait for active connections to end (default: the pool's drain_timeout)")
@click.argument("pool")
@click.argument("server")
def drain_command(config: tuple[str, ...], api: str | None, as_json: bool, timeout: float | None, pool: str, server: str) -> None:
    """Take SERVER out of POOL without cutting requests: weight 0 (no new connections), wait until its
    active connections reach zero or the timeout passes, then remove it.

    Example: faultmgr pool drain web web1 --timeout 60
    """
    if timeout is None:
        timeout = float(ask(config, api, "pool.list", {"pool": pool})["pools"][0]["drain_timeout"])
    answer = ask(config, api, "pool.drain", {"pool": pool, "server": server, "drain_timeout": timeout},
                 timeout + MARGIN_S)
    how = ("drained" if answer["drained"]
           else f"timed out with {answer['active_left']} active connection(s), removed anyway")
    _out(answer, as_json, f"{server} {how} from pool {pool} after {answer['waited']:.1f}s: "
                          f"{_changes(answer['report'])}")


@pool_group.command("add")
@config_option
@api_option
@json_option
@click.option("--weight", type=click.IntRange(min=0), default=None, help="weight (default: the declared one)")
@click.option("--rise", type=click.IntRange(min=1), default=None,
              help="checks that must pass in a row before the server is added (default: the rise of the probe "
                   "watching the server, else 1)")
@click.option("--timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="seconds to wait for the server to become healthy; the pool is unchanged if it does not")
@click.option("--address", default=None, help="address of a server the rule file does not declare")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="its port (default: the service's)")
@click.argument("pool")
@click.argument("server")
def add_command(config: tuple[str, ...], api: str | None, as_json: bool, weight: int | None, rise: int | None, timeout: float,
                address: str | None, port: int | None, pool: str, server: str) -> None:
    """Add SERVER to POOL once it is healthy: a declared standby server, one drained earlier, or a new one
    given with --address. Healthy means that the daemon's probe of SERVER (a `probe` detector target of that
    name) passed RISE times in a row; without such a probe, a TCP connection to it opened RISE times.

    Example: faultmgr pool add web web4 --weight 10 --rise 3
    """
    args: dict[str, Any] = {"pool": pool, "server": server, "check_timeout": timeout}
    optional = {"weight": weight, "rise": rise, "address": address, "port": port}
    args.update({k: v for k, v in optional.items() if v is not None})
    # add_server checks the deadline between checks: one more interval and check may run past it.
    answer = ask(config, api, "pool.add", args, timeout + MARGIN_S)
    _out(answer, as_json, f"{server} added to pool {pool} at weight {answer['weight']} after {answer['check']} "
                          f"passed {answer['rise']} time(s): {_changes(answer['report'])}")


@pool_group.command("weight")
@config_option
@api_option
@json_option
@click.argument("pool")
@click.argument("server")
@click.argument("weight", type=click.IntRange(min=0))
def weight_command(config: tuple[str, ...], api: str | None, as_json: bool, pool: str, server: str, weight: int) -> None:
    """Set SERVER's weight in POOL (0: no new connections); it stays until changed again.

    Example: faultmgr pool weight web web2 5
    """
    answer = ask(config, api, "pool.weight", {"pool": pool, "server": server, "weight": weight})
    _out(answer, as_json, f"{server} of pool {pool} now has weight {weight}: {_changes(answer['report'])}")


@pool_group.command("restore")
@config_option
@api_option
@json_option
@click.argument("pool")
@click.argument("server")
def restore_command(config: tuple[str, ...], api: str | None, as_json: bool, pool: str, server: str) -> None:
    """Drop SERVER's override in POOL (drained, added or reweighted by hand): the rule file holds again.

    Example: faultmgr pool restore web web2
    """
    answer = ask(config, api, "pool.restore", {"pool": pool, "server": server})
    _out(answer, as_json, f"{server} of pool {pool} is back to the rule file: {_changes(answer['report'])}")
