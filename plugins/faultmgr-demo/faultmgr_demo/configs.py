"""The demo's rule files and HAProxy configs: package data with ``@name@`` placeholders, written to the run's
temporary directory with the lab's addresses, ports and secrets filled in.

The rule files are the site part of each node, as an operator writes it: they include the rule files shipped with
faultmgr unchanged (``${faultmgr:rules}``, see :data:`SHIPPED`) and define the detectors, actions and receivers
those name."""

from __future__ import annotations

import importlib.resources
import os
import re
import secrets
from pathlib import Path
from typing import Any

import yaml

from faultmgr_demo.topology import HEADS, REAL_SERVERS, Layout

PLACEHOLDER = re.compile(r"@([a-z][a-z0-9_]*)@")
#: The shipped rule file each kind of node includes (from faultmgr's ``rules/``).
SHIPPED = {"head": "ha-oscar-head.yaml", "watcher": "ha-oscar-watcher.yaml"}


def template(name: str) -> str:
    """The text of a packaged template (``head.yaml``, ``watcher.yaml``, ``haproxy.cfg``)."""
    return importlib.resources.files("faultmgr_demo").joinpath("configs", name).read_text(encoding="utf-8")


def fill(text: str, values: dict[str, Any]) -> str:
    """Replace every ``@name@``; a placeholder without a value is a bug of the demo, not the user's."""
    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"demo template placeholder @{key}@ has no value")
        return str(values[key])
    return PLACEHOLDER.sub(value, text)


def write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only (secrets: the heartbeat key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)


def write_tokens(path: Path) -> str:
    """A private tokens file for the dashboards with one admin token (``name scope token``); the token."""
    token = secrets.token_urlsafe(24)
    write_private(path, f"demo admin {token}\n")
    return token


class Configs:
    """Writes every file of one run under ``workdir`` and knows where each is."""

    def __init__(self, layout: Layout, workdir: Path) -> None:
        self.layout = layout
        self.workdir = workdir
        self.key_file = workdir / "heartbeat.keys"
        self.holder_file = workdir / "vip-holder"
        self.tokens_file = workdir / "api.tokens"
        #: The dashboards' admin token, when the faultmgr-api plugin is installed (else ``None``).
        self.api_token: str | None = None

    def node_dir(self, node: str) -> Path:
        """Config, state and log of one node."""
        path = self.workdir / node
        path.mkdir(parents=True, exist_ok=True, mode=0o750)
        return path

    def rule_file(self, node: str) -> Path:
        """The node's rule file."""
        return self.node_dir(node) / "faultmgr.yaml"

    def state_dir(self, node: str) -> Path:
        """The node's ``daemon.state_dir`` (journal, control socket)."""
        return self.node_dir(node) / "state"

    def haproxy_socket(self, head: str) -> Path:
        """HAProxy's admin socket on ``head``."""
        return self.node_dir(head) / "haproxy.sock"

    def haproxy_config(self, head: str) -> Path:
        """HAProxy's configuration on ``head``."""
        return self.node_dir(head) / "haproxy.cfg"

    def common(self) -> dict[str, Any]:
        """Placeholder values every rule file shares."""
        lay = self.layout
        values: dict[str, Any] = {"key_file": self.key_file, "hb_watcher": lay.hb("watcher"), "vip": lay.vip,
                                  "mgmt_ip": lay.ip("mgmt"), "smtp_port": lay.port("smtp"),
                                  "traps_port": lay.port("traps"), "watcher_ip": lay.ip("watcher")}
        for name in REAL_SERVERS:
            values[f"{name}_ip"] = lay.ip(name)
            values[f"{name}_port"] = lay.port(f"web:{name}")
        return values

    def write(self, api: bool = False) -> None:
        """The secret key, both heads' and the watcher's rule files, and each head's HAProxy config; with
        ``api``, an ``api:`` section in each rule file and the tokens file it names."""
        write_private(self.key_file, f"1 {os.urandom(32).hex()}\n")
        if api:
            self.api_token = write_tokens(self.tokens_file)
        for head in HEADS:
            peer = HEADS[1 - HEADS.index(head)]
            values = {**self.common(), "node": head, "peer": peer, "state_dir": self.state_dir(head),
                      "log_dir": self.node_dir(head),
                      "hb_self": self.layout.hb(head), "hb_peer": self.layout.hb(peer),
                      "preferred": "true" if head == "head-a" else "false",
                      "haproxy_socket": self.haproxy_socket(head)}
            text = fill(template("head.yaml"), values)
            if self.layout.dry_run:
                text = self._stand_in_vip(text, head)
            if not self.layout.pool:
                text = self._without_pool(text)
            self.rule_file(head).write_text(text + self._api(head))
            self.haproxy_config(head).write_text(self._haproxy(head))
        values = {**self.common(), "state_dir": self.state_dir("watcher"), "log_dir": self.node_dir("watcher")}
        self.rule_file("watcher").write_text(fill(template("watcher.yaml"), values) + self._api("watcher"))

    def _api(self, node: str) -> str:
        """The ``api:`` section (HTTP API and dashboard on the node's loopback), or nothing."""
        if self.api_token is None:
            return ""
        return (f"\napi:   # dashboard and HTTP API (faultmgr-api), on the node's loopback\n"
                f"  listen: \"127.0.0.1:{self.layout.port('api:' + node)}\"\n"
                f"  tokens_file: \"{self.tokens_file}\"\n")

    def _stand_in_vip(self, text: str, head: str) -> str:
        """Loopback story: the VIP action becomes the dry-run stand-in (``demo.vip``), with a header saying so."""
        config = yaml.safe_load(text)
        real = config["actions"]["vip"]
        config["actions"]["vip"] = {"type": "demo.vip", "vip": real["vip"], "interface": real["interface"],
                                    "preferred": real["preferred"], "auto_failback": real["auto_failback"],
                                    "holder_file": str(self.holder_file), "node": head}
        header = ("# Loopback story (dry run): the VIP action is the demo's stand-in, and the daemon runs with\n"
                  "# --dry-run, so pool actions only say what they would do.\n")
        return header + yaml.safe_dump(config, sort_keys=False)

    @staticmethod
    def _without_pool(text: str) -> str:
        """No HAProxy: no ``pools:`` section and no pool action; the probes still page."""
        config = yaml.safe_load(text)
        config.pop("pools", None)
        config["actions"].pop("web-out", None)
        config["rules"]["real-server-down"]["actions"] = []
        config["rules"]["real-server-down"]["annotations"]["summary"] = "real server {subject} fails its check"
        header = "# Without HAProxy: the real servers are probed and paged about, but there is no pool to act on.\n"
        return header + yaml.safe_dump(config, sort_keys=False)

    def _haproxy(self, head: str) -> str:
        lay = self.layout
        bind = (f"127.0.0.1:{lay.port('service:' + head)}" if lay.dry_run
                else f"0.0.0.0:{lay.port('service:' + head)}")
        values = {"socket": self.haproxy_socket(head), "bind": bind,
                  **{name: f"{lay.ip(name)}:{lay.port('web:' + name)}" for name in REAL_SERVERS}}
        return fill(template("haproxy.cfg"), values)
