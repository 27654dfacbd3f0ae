"""Every hook is documented, and every hook is exercised: a recording plugin implements all of them and a
real daemon run (start, event, alert, reload, shutdown), a config load and the CLI build call each one."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import click
import pytest

from faultmgr import hookimpl, hookspecs
from faultmgr.cli import main as cli_main
from faultmgr.cli.client_config import ApiTarget
from faultmgr.cli.transport import SocketTransport, api_transport
from faultmgr.config.build import load
from faultmgr.control import request
from faultmgr.daemon import Daemon
from faultmgr.event import Event
from faultmgr.plugin.manager import load_plugins

SPECS = sorted(name for name, fn in vars(hookspecs).items()
               if name.startswith("faultmgr_") and inspect.isfunction(fn))


def test_there_are_hooks() -> None:
    assert {"faultmgr_register_detectors", "faultmgr_register_actions", "faultmgr_register_notifiers",
            "faultmgr_startup", "faultmgr_shutdown", "faultmgr_event", "faultmgr_cli_commands"} <= set(SPECS)


@pytest.mark.parametrize("name", SPECS)
def test_every_hook_is_documented(name: str) -> None:
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    assert len(doc.splitlines()[0]) > 20, f"{name} needs a summary line"
    assert "alled" in doc, f"{name}: say when it is called"
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{name}: document parameter {param!r}"


class Recorder:
    """Implements every hook and records the calls."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {}

    def _record(self, name: str, **kwargs: Any) -> None:
        self.calls.setdefault(name, []).append(kwargs)

    @hookimpl
    def faultmgr_addhooks(self, pluginmanager: Any) -> None:
        self._record("faultmgr_addhooks", pluginmanager=pluginmanager)

    @hookimpl
    def faultmgr_register_detectors(self, registry: Any) -> None:
        self._record("faultmgr_register_detectors", registry=registry)

    @hookimpl
    def faultmgr_register_actions(self, registry: Any) -> None:
        self._record("faultmgr_register_actions", registry=registry)

    @hookimpl
    def faultmgr_register_notifiers(self, registry: Any) -> None:
        self._record("faultmgr_register_notifiers", registry=registry)

    @hookimpl
    def faultmgr_register_sections(self, registry: Any) -> None:
        self._record("faultmgr_register_sections", registry=registry)

    @hookimpl
    def faultmgr_validate_config(self, config: Any) -> list[str]:
        self._record("faultmgr_validate_config", config=config)
        return []

    @hookimpl
    def faultmgr_startup(self, daemon: Any) -> None:
        self._record("faultmgr_startup", daemon=daemon)

    @hookimpl
    def faultmgr_reloaded(self, daemon: Any, changed: list[str]) -> None:
        self._record("faultmgr_reloaded", changed=changed)

    @hookimpl
    def faultmgr_shutdown(self, daemon: Any) -> None:
        self._record("faultmgr_shutdown", daemon=daemon)

    @hookimpl
    def faultmgr_event(self, event: Event) -> None:
        self._record("faultmgr_event", kind=event.kind)

    @hookimpl
    def faultmgr_alert_changed(self, alert: Any, change: str) -> None:
        self._record("faultmgr_alert_changed", change=change)

    @hookimpl
    def faultmgr_control_commands(self, commands: dict[str, Any]) -> None:
        self._record("faultmgr_control_commands")

        async def echo(daemon: Any, who: str, request: dict[str, Any]) -> dict[str, Any]:
            return {"ok": True, "who": who, "echo": request.get("text")}

        commands["test.echo"] = echo

    @hookimpl
    def faultmgr_cli_commands(self, cli: click.Group) -> None:
        self._record("faultmgr_cli_commands", cli=cli)

    @hookimpl
    def faultmgr_control_transport(self, target: ApiTarget) -> Any:
        self._record("faultmgr_control_transport", url=target.url)
        return SocketTransport(Path(target.url))


async def test_every_hook_is_exercised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    plugins = load_plugins(extra=[("recorder", recorder)])
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""
daemon: {{state_dir: {tmp_path / 'state'}, tick: 50ms}}
detectors: {{ext: {{type: external}}}}
receivers: {{out: {{type: log, path: {tmp_path / 'out.jsonl'}, group_wait: 0s}}}}
rules: {{down: {{match: {{kind: probe.failed, source: ext}}, notify: [out]}}}}
""")
    config = load([rules], plugins)
    daemon = Daemon([str(rules)], plugins, config)
    task = asyncio.get_running_loop().create_task(daemon.run())
    for _ in range(100):
        if hasattr(daemon, "engine"):
            break
        await asyncio.sleep(0.02)
    daemon.emit(Event("probe.failed", "ext", "web1", labels={}))
    await asyncio.sleep(0.2)
    answer = await asyncio.to_thread(request, tmp_path / "state" / "control.sock", "test.echo", text="hi")
    assert answer["echo"] == "hi" and answer["who"] == "root"
    rules.write_text(rules.read_text().replace("group_wait: 0s", "group_wait: 1s"))
    answer = await daemon.reload("test")
    assert answer["ok"] is True and answer["changed"] == ["receiver:out"]
    daemon.stopping.set()
    assert await asyncio.wait_for(task, 30) == 0
    monkeypatch.setattr("faultmgr.plugin.manager.load_plugins", lambda *a, **k: plugins)
    cli_main.build_cli()
    transport = api_transport(ApiTarget("http://test", None, None, 1.0, "test"))
    assert isinstance(transport, SocketTransport) and transport.where == "http:/test"
    assert sorted(recorder.calls) == SPECS
    assert recorder.calls["faultmgr_event"][0] == {"kind": "probe.failed"}
    assert {"change": "firing"} in recorder.calls["faultmgr_alert_changed"]
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1
