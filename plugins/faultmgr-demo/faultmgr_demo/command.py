"""``faultmgr demo``: build the cluster, run the story, print the timeline, and clean everything up.

Clean-up runs whatever ends the demo: the story finishing, an error, Ctrl-C (SIGINT), SIGTERM or SIGHUP
(the terminal closing): the signals are turned into an exception so the ``finally`` block always runs, and a
second Ctrl-C during clean-up is ignored rather than leaving half a lab behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click

from faultmgr_demo.cluster import Cluster, DemoError
from faultmgr_demo.hosts import (
    Hosts,
    LoopbackHosts,
    NamespaceHosts,
    namespaces_work,
    new_tag,
    remove_stale_processes,
)
from faultmgr_demo.progress import Progress
from faultmgr_demo.story import Story
from faultmgr_demo.timeline import as_json, render
from faultmgr_demo.topology import Layout

FORCE_LOOPBACK_ENV = "FAULTMGR_DEMO_FORCE_LOOPBACK"


class Stopped(Exception):
    """A signal asked the demo to stop."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def choose_mode(loopback: bool) -> tuple[str, str | None]:
    """``("netns", None)`` or ``("loopback", why)``."""
    if loopback or os.environ.get(FORCE_LOOPBACK_ENV) == "1":
        return "loopback", "loopback story requested"
    if os.geteuid() != 0:
        return "loopback", "not root: running the same story on loopback, with the VIP and pool actions in dry run"
    if shutil.which("ip") is None:
        return "loopback", "no `ip` command (iproute2): running the story on loopback in dry run"
    why = namespaces_work()
    if why:
        return "loopback", f"cannot create network namespaces ({why}): running the story on loopback in dry run"
    return "netns", None


@click.command("demo")
@click.option("--json", "json_output", is_flag=True, help="print the timeline as one JSON object")
@click.option("--keep", is_flag=True, help="leave the cluster running after the story, until Ctrl-C")
@click.option("--without-pool", is_flag=True, help="leave HAProxy and the pool out (the default when HAProxy is "
                                                   "not installed)")
@click.option("--loopback", is_flag=True, help=f"run the loopback story (dry run) even as root "
                                               f"(also: {FORCE_LOOPBACK_ENV}=1)")
def demo_command(json_output: bool, keep: bool, without_pool: bool, loopback: bool) -> None:
    """Build a small HA cluster on this machine and break it, one fault after another.

    As root: network namespaces with two head nodes sharing a VIP, three real servers behind an HAProxy pool,
    a client, an eHB watcher, and local SMTP and SNMP sinks, all run by real faultmgr daemons. A real server
    fails and comes back, the primary head dies, forged heartbeats arrive, both heads die; the timeline says
    what was detected and when, what was done, who was paged, and how long the client's service was
    interrupted. Without root the same story runs on loopback, with the VIP and pool actions in dry run.
    Everything it creates is removed at the end, also on Ctrl-C. About a minute.

    Example: sudo faultmgr demo
    """
    remove_stale_processes()
    mode, why = choose_mode(loopback)
    if why:
        click.echo(f"faultmgr demo: {why}", err=True)
    layout = Layout.namespaces() if mode == "netns" else Layout.loopback()
    if not without_pool and shutil.which("haproxy") is None:
        without_pool = True
        click.echo("faultmgr demo: HAProxy is not installed (apt-get install haproxy): running without the "
                   "load-balancer pool", err=True)
    layout.pool = not without_pool
    tag = new_tag()
    hosts: Hosts = NamespaceHosts(layout, tag) if mode == "netns" else LoopbackHosts(layout, tag)
    workdir = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    cluster = Cluster(hosts, layout, workdir)
    info: dict[str, Any] = {
        "mode": mode, "dry_run": layout.dry_run, "pool": layout.pool, "lab": tag, "workdir": str(workdir),
        "where": (f"network namespaces {tag}-* (root)" if mode == "netns"
                  else "loopback (no namespaces)")}
    # SIGINT too: a shell without job control starts background jobs with SIGINT ignored, and Python then
    # never turns Ctrl-C into KeyboardInterrupt.
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    keep_files = False
    try:
        with Progress() as progress:
            started = time.monotonic()
            cluster.up(progress.step)
            progress.note(f"cluster up in {time.monotonic() - started:.1f}s ({info['where']}; files in {workdir})")
            if cluster.dashboards:
                info["dashboards"] = cluster.dashboards
                info["dashboard_token"] = cluster.configs.api_token
                progress.note(dashboard_text(cluster))
            stages = Story(cluster, progress).run()
            info["elapsed_s"] = round(time.monotonic() - started, 1)
        click.echo(as_json(info, stages) if json_output else render(info, stages))
        if keep:
            _keep(cluster)
    except DemoError as exc:
        keep_files = True  # the logs say why
        raise click.ClickException(f"{exc}; files kept in {workdir}") from None
    except (KeyboardInterrupt, Stopped) as exc:
        click.echo(f"\nfaultmgr demo: stopped ({exc or 'SIGINT'}); cleaning up", err=True)
        raise SystemExit(130) from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        cluster.down()
        if not keep_files:
            shutil.rmtree(workdir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def dashboard_text(cluster: Cluster) -> str:
    """Where the dashboards are, and the token to sign in with."""
    urls = ", ".join(f"{node} {url}" for node, url in cluster.dashboards.items())
    return f"dashboards while the demo runs: {urls} (token: {cluster.configs.api_token})"


def _keep(cluster: Cluster) -> None:
    """Bring both heads back and wait for Ctrl-C, saying how to look at the cluster meanwhile."""
    for head in ("head-a", "head-b"):
        cluster.power_on_head(head)
    rule_files = {node: cluster.configs.rule_file(node) for node in ("head-a", "head-b", "watcher")}
    click.echo("\nThe cluster keeps running (both heads booted again). Try:", err=True)
    for node, path in rule_files.items():
        click.echo(f"  faultmgr alerts -c {path}      # {node}", err=True)
    click.echo(f"  faultmgr history --what actions -c {rule_files['head-a']}", err=True)
    if cluster.dashboards:
        click.echo(dashboard_text(cluster), err=True)
    click.echo("Ctrl-C stops it and removes everything.", err=True)
    while True:
        time.sleep(3600)
