"""``faultmgr remote ...``: the running daemon's alerts, silences, status and pools over the HTTP API, for
use from another machine (the core's ``alerts``/``ack``/``silence`` use the local control socket).

Tables by default, ``--json`` for scripts; an unreachable daemon is one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from faultmgr_api.remote_client import ApiRefused, Client, Unreachable

F = TypeVar("F", bound=Callable[..., Any])
EXIT_REFUSED, EXIT_UNREACHABLE = 1, 2


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def since(epoch: float | None) -> str:
    if not epoch:
        return ""
    seconds = max(0.0, time.time() - epoch)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def api_call(func: F) -> F:
    """Turn client failures into one line on stderr and a distinct exit code."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Unreachable as exc:
            click.echo(f"faultmgr: {exc}", err=True)
            raise SystemExit(EXIT_UNREACHABLE) from None
        except ApiRefused as exc:
            click.echo(f"faultmgr: the daemon refused ({exc.status}): {exc}", err=True)
            raise SystemExit(EXIT_REFUSED) from None
    return wrapper  # type: ignore[return-value]


def emit(data: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else render(data))


json_option = click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")


def api_command(func: F) -> F:
    """``--json``, the click context and :func:`api_call` for a command that calls the API."""
    return json_option(click.pass_context(api_call(func)))  # type: ignore[return-value]


@click.group()
@click.option("--url", help="API base URL (default $FAULTMGR_API_URL, the config file, http://127.0.0.1:9467)")
@click.option("--token", help="bearer token (default $FAULTMGR_API_TOKEN or the config file)")
@click.option("--config", "config", help="remote config file (default ~/.config/faultmgr/remote.conf)")
@click.pass_context
def remote(ctx: click.Context, url: str | None, token: str | None, config: str | None) -> None:
    """Talk to a running daemon through its HTTP API (alerts, ack, silences, status, pools).

    URL and token from --url/--token, FAULTMGR_API_URL/FAULTMGR_API_TOKEN or ~/.config/faultmgr/remote.conf.

    Example: FAULTMGR_API_URL=https://head-a:9467 faultmgr remote alerts --severity critical
    """
    ctx.obj = (url, token, config)


def client(ctx: click.Context) -> Client:
    url, token, config = ctx.find_object(tuple) or (None, None, None)
    return Client.configured(url, token, config)


@remote.command("status")
@api_command
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """The daemon's status."""
    data = client(ctx).call("GET", "/api/v1/status")

    def render(d: dict[str, Any]) -> str:
        c = d.get("counters", {})
        lines = [f"node {d['node']} (pid {d['pid']}), up since {since(d['started_at'])}",
                 f"alerts firing: {d['alerts'].get('firing', 0)}; outbox depth: {d['outbox_depth']}; "
                 f"events: {c.get('events', 0)}; loop lag: {d.get('loop_lag_ms', 0)} ms"]
        rows = [(kind, name, info.get("type", "")) for kind, table_ in d["components"].items()
                for name, info in table_.items()]
        return "\n".join(lines) + "\n\n" + table(("kind", "name", "type"), rows)
    emit(data, as_json, render)


def _alert_rows(alerts: list[dict[str, Any]]) -> str:
    rows = [(a["id"], a["severity"], a["state"], a["rule"], a["subject"], since(a["starts_at"]),
             a.get("acknowledged_by") or "", a.get("muted") or "") for a in alerts]
    return table(("id", "severity", "state", "rule", "subject", "since", "acked by", "muted"), rows) \
        if rows else "no alerts"


@remote.command("alerts")
@click.option("--state", help="pending, firing, resolved (comma-separated)")
@click.option("--severity", help="info, warning, critical (comma-separated)")
@click.option("--rule", help="rule name glob")
@click.option("--subject", help="subject glob")
@api_command
def alerts_cmd(ctx: click.Context, state: str | None, severity: str | None, rule: str | None,
               subject: str | None, as_json: bool) -> None:
    """List alerts."""
    data = client(ctx).call("GET", "/api/v1/alerts", query={"state": state, "severity": severity, "rule": rule,
                                                            "subject": subject})
    emit(data, as_json, lambda d: _alert_rows(d["alerts"]))


@remote.command("ack")
@click.argument("alert_id", type=int)
@click.option("-c", "--comment", default="", help="why, or what is being done")
@api_command
def ack_cmd(ctx: click.Context, alert_id: int, comment: str, as_json: bool) -> None:
    """Acknowledge an alert (stops its escalation)."""
    data = client(ctx).call("POST", f"/api/v1/alerts/{alert_id}/ack", {"comment": comment})
    emit(data, as_json, lambda d: f"alert #{d['id']} acknowledged by {d['acknowledged_by']}")


@remote.command("unack")
@click.argument("alert_id", type=int)
@api_command
def unack_cmd(ctx: click.Context, alert_id: int, as_json: bool) -> None:
    """Take an acknowledgement back."""
    data = client(ctx).call("POST", f"/api/v1/alerts/{alert_id}/unack", {})
    emit(data, as_json, lambda d: f"alert #{d['id']} no longer acknowledged")


@remote.group("silence")
def silence() -> None:
    """Silences: add, list, expire."""


def _silence_rows(items: list[dict[str, Any]]) -> str:
    rows = [(s["id"], ", ".join(s["matchers"]), time.strftime("%Y-%m-%d %H:%M", time.localtime(s["ends_at"])),
             s["author"], s["comment"]) for s in items]
    return table(("id", "matchers", "until", "author", "comment"), rows) if rows else "no silences"


@silence.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("-d", "--duration", default="1h", show_default=True, help="how long (30m, 2h, ...)")
@click.option("-c", "--comment", default="", help="why")
@api_command
def silence_add(ctx: click.Context, matchers: tuple[str, ...], duration: str, comment: str, as_json: bool) -> None:
    """Silence alerts matching every MATCHER (name=value, name!=value, name=~regex, name!~regex)."""
    data = client(ctx).call("POST", "/api/v1/silences", {"matchers": list(matchers), "duration": duration,
                                                         "comment": comment})
    emit(data, as_json, lambda d: f"silence #{d['id']} until "
                                  f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(d['ends_at']))}")


@silence.command("list")
@click.option("--all", "include_all", is_flag=True, help="include expired silences")
@api_command
def silence_list(ctx: click.Context, include_all: bool, as_json: bool) -> None:
    """List silences."""
    data = client(ctx).call("GET", "/api/v1/silences", query={"all": "true" if include_all else None})
    emit(data, as_json, lambda d: _silence_rows(d["silences"]))


@silence.command("expire")
@click.argument("silence_id", type=int)
@api_command
def silence_expire(ctx: click.Context, silence_id: int, as_json: bool) -> None:
    """End a silence now."""
    data = client(ctx).call("DELETE", f"/api/v1/silences/{silence_id}")
    emit(data, as_json, lambda d: f"silence #{d['id']} expired")


@remote.group("pool")
def pool() -> None:
    """Load-balancer pools: real servers, weights, health."""


def _pool_rows(pools: list[dict[str, Any]]) -> str:
    rows = []
    for p in pools:
        for s in p["servers"]:
            health = "unknown" if s["serving"] is None else ("serving" if s["serving"] else s["state"] or "out")
            rows.append((p["name"], s["name"], s["address"], s["port"], health, s["weight"], s["declared_weight"]))
    text = table(("pool", "server", "address", "port", "health", "weight", "declared"), rows) if rows else "no pools"
    errors = [f"{p['name']}: live state unavailable: {p['live_error']}" for p in pools if p["live_error"]]
    return "\n".join([text, *errors])


@pool.command("list")
@api_command
def pool_list(ctx: click.Context, as_json: bool) -> None:
    """Every pool with its real servers."""
    data = client(ctx).call("GET", "/api/v1/pools")
    emit(data, as_json, lambda d: _pool_rows(d["pools"]))


@pool.command("show")
@click.argument("name")
@api_command
def pool_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One pool."""
    data = client(ctx).call("GET", f"/api/v1/pools/{name}")
    emit(data, as_json, lambda d: _pool_rows([d]))


def _changed(d: dict[str, Any]) -> str:
    report = d["report"]
    lines = [f"{d['server']}: " + ("; ".join(report["changes"]) or "no change needed")]
    if "drained" in d:
        lines.append("drained" if d["drained"] else f"drain timed out with {d['active_left']} connection(s) cut")
    lines += [f"error: {e}" for e in report["errors"]]
    return "\n".join(lines + ["", _pool_rows([d["pool"]])])


@pool.command("drain")
@click.argument("name")
@click.argument("server")
@click.option("--timeout", help="longest wait for connections to end (default: the pool's drain_timeout)")
@api_command
def pool_drain(ctx: click.Context, name: str, server: str, timeout: str | None, as_json: bool) -> None:
    """Drain SERVER of pool NAME: weight 0, wait for its connections, remove it."""
    body = {"timeout": timeout} if timeout else {}
    emit(client(ctx).call("POST", f"/api/v1/pools/{name}/servers/{server}/drain", body), as_json, _changed)


@pool.command("add")
@click.argument("name")
@click.argument("server")
@click.option("--weight", type=int, help="weight (default: the declared one)")
@click.option("--address", help="address of a server the rule file does not declare")
@click.option("--port", type=int, help="its port (default: the service's)")
@api_command
def pool_add(ctx: click.Context, name: str, server: str, weight: int | None, address: str | None,
             port: int | None, as_json: bool) -> None:
    """Put SERVER in pool NAME once a TCP check to it passes."""
    body = {k: v for k, v in (("weight", weight), ("address", address), ("port", port)) if v is not None}
    emit(client(ctx).call("POST", f"/api/v1/pools/{name}/servers/{server}/add", body), as_json, _changed)


@pool.command("weight")
@click.argument("name")
@click.argument("server")
@click.argument("weight", type=int)
@api_command
def pool_weight(ctx: click.Context, name: str, server: str, weight: int, as_json: bool) -> None:
    """Set SERVER's WEIGHT in pool NAME (0 quiesces it) until `pool restore`."""
    emit(client(ctx).call("POST", f"/api/v1/pools/{name}/servers/{server}/weight", {"weight": weight}), as_json,
         _changed)


@pool.command("restore")
@click.argument("name")
@click.argument("server")
@api_command
def pool_restore(ctx: click.Context, name: str, server: str, as_json: bool) -> None:
    """Clear the operator's override of SERVER: back to what the rule file declares."""
    emit(client(ctx).call("DELETE", f"/api/v1/pools/{name}/servers/{server}/override"), as_json, _changed)


@remote.command("nodes")
@api_command
def nodes_cmd(ctx: click.Context, as_json: bool) -> None:
    """Heartbeat peers with their paths, and who holds each VIP."""
    data = client(ctx).call("GET", "/api/v1/nodes")

    def render(d: dict[str, Any]) -> str:
        peers = [(p["peer"], p["state"], path["name"], "" if path["last_seen_ms_ago"] is None
                  else f"{path['last_seen_ms_ago'] / 1000:.1f}s ago") for p in d["peers"] for path in p["paths"]]
        vips = [(v["vip"], v["interface"], v["holder"] or ("not here" if v["held"] is False else "unknown"),
                 v["action"]) for v in d["vips"]]
        return "\n\n".join([f"node {d['node']}", table(("peer", "state", "path", "last beat"), peers),
                            table(("vip", "interface", "held by", "action"), vips)])
    emit(data, as_json, render)
