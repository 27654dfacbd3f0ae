"""The audit detector end to end: real files, the shipped rule file's settings, poisoned input, restarts,
and third-party parsers through the plugin hook."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultmgr_audit import AuditDetector, Parser, Record

from faultmgr.event import Event

SHIPPED = Path(__file__).resolve().parents[3] / "rules" / "security.yaml"
Shipped = Callable[[], dict[str, Any]]  # the shipped_settings fixture (conftest.py)
Make = Callable[..., AuditDetector]  # the make_detector fixture


def append(path: Path, text: str | bytes) -> None:
    with open(path, "ab") as out:
        out.write(text.encode() if isinstance(text, str) else text)


async def wait_for(events: list[Event], kind: str, timeout: float = 5.0) -> Event:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for event in events:
            if event.kind == kind:
                return event
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {kind} event; got {[e.kind for e in events]}")


FAILED = ("Nov 25 07:30:0{i} web1 sshd[1{i}]: Failed password for invalid user u{i} from 203.0.113.9 "
          "port 4{i} ssh2\n")


async def test_shipped_settings_detect_brute_force_root_login_watch_denied(
        make_detector: Make, shipped_settings: Shipped, events: list[Event], tmp_path: Path) -> None:
    detector = make_detector(**shipped_settings())
    await detector.start()
    try:
        append(tmp_path / "auth.log", "".join(FAILED.format(i=i) for i in range(5)))
        brute = await wait_for(events, "audit.bruteforce")
        assert brute.subject == "203.0.113.9" and str(brute.severity) == "critical"
        assert brute.labels["source_ip"] == "203.0.113.9" and brute.source == "audit"
        assert brute.labels["log"] == str(tmp_path / "auth.log") and brute.labels["parser"] == "syslog-auth"

        append(tmp_path / "auth.log", "Nov 25 07:31:00 web1 sshd[7]: Accepted password for root from 198.51.100.4 "
                                      "port 5000 ssh2\n")
        root = await wait_for(events, "audit.root_login")
        assert root.subject == "198.51.100.4" and root.labels["user"] == "root"

        append(tmp_path / "audit.log",
               'type=SYSCALL msg=audit(1700000000.1:10): syscall=257 success=no exit=-13 uid=0 euid=0 '
               'exe="/usr/sbin/backupd" key="identity"\n'
               'type=PATH msg=audit(1700000000.1:10): item=0 name="/etc/shadow"\n'
               'type=EOE msg=audit(1700000000.1:10): \n')
        watch = await wait_for(events, "audit.watch")
        assert watch.subject == "/etc/shadow" and watch.labels["key"] == "identity"
        denied = await wait_for(events, "audit.denied")
        assert denied.subject == "/usr/sbin/backupd"

        append(tmp_path / "security.log", "type=DSI_ACCESS subject=initd subject_uid=0 object=/dev/mem "
                                          "permission=write verdict=deny\n")
        await asyncio.sleep(0.1)
        assert any(e.kind == "audit.denied" and e.subject == "initd" for e in events)

        append(tmp_path / "auth.log", "Nov 25 07:32:00 web1 sudo:    alice : 3 incorrect password attempts ; "
                                      "TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh\n")
        match = await wait_for(events, "audit.match")
        assert match.labels["rule"] == "sudo-failure" and match.subject == "alice@web1"
    finally:
        await detector.stop()


async def test_poisoned_lines_do_not_stop_the_detector(
        make_detector: Make, shipped_settings: Shipped, events: list[Event], tmp_path: Path) -> None:
    settings = shipped_settings()
    settings["max_line_bytes"] = 4096
    detector = make_detector(**settings)
    await detector.start()
    try:
        auth = tmp_path / "auth.log"
        append(auth, b"\xff\xfe garbage \x00\x00\n")                        # invalid UTF-8 and NUL bytes
        append(auth, b"Nov 25 07:30:00 web1 sshd[1]: Failed password for " + b"A" * (3 << 20) + b"\n")  # 3 MB
        append(auth, b"\0" * 10000 + b"\n")                                  # a run of NULs (crash residue)
        append(auth, "Nov 25 07:30:00 web1 sshd[1]: Failed password for x\u202e from 1.2.3.4 port 1 ssh2\n")
        append(tmp_path / "audit.log", "type=SYSCALL msg=audit(1.0:1): name=ZZZ key=\"" + "k" * 100000 + "\"\n")
        append(auth, "".join(FAILED.format(i=i) for i in range(5)) + "Nov 25 07:30:09 web1 sshd[2]: Failed pass")
        brute = await wait_for(events, "audit.bruteforce")
        assert brute.subject == "203.0.113.9"
        cut = await wait_for(events, "audit.line.cut")
        assert cut.payload["lines"] >= 1
        status = detector.status()
        assert status["sources"][1]["cut_lines"] >= 1
    finally:
        await detector.stop()


async def test_restart_emits_nothing_twice(make_detector: Make, shipped_settings: Shipped,
                                           events: list[Event], tmp_path: Path) -> None:
    settings = shipped_settings()
    settings["match"] = [{"name": "any-ssh", "parser": "syslog-auth", "subject": "{port}"}]
    settings["bruteforce"] = {"enabled": False}
    auth = tmp_path / "auth.log"
    detector = make_detector(**settings)
    await detector.start()
    append(auth, FAILED.format(i=1))
    await wait_for(events, "audit.match")
    await detector.stop()
    append(auth, FAILED.format(i=2))  # while it is down
    again = make_detector(**settings)
    await again.start()
    try:
        append(auth, FAILED.format(i=3))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while len([e for e in events if e.kind == "audit.match"]) < 3 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    finally:
        await again.stop()
    assert [e.subject for e in events if e.kind == "audit.match"] == ["41", "42", "43"]


async def test_pathological_rule_regex_refused_at_load(make_detector: Make, shipped_settings: Shipped) -> None:
    settings = shipped_settings()
    settings["match"] = [{"name": "redos", "regex": {"user": "(a+)+$"}}]
    with pytest.raises(ValueError, match="repeat inside a repeat"):
        make_detector(**settings)


async def test_slow_rule_regex_reported_and_detector_keeps_going(
        make_detector: Make, shipped_settings: Shipped, events: list[Event], tmp_path: Path) -> None:
    settings = shipped_settings()
    settings["match"] = [{"name": "slow", "parser": "syslog-auth", "regex": {"user": "(a|aa)+$"}}]
    settings["regex_timeout"] = 0.02
    detector = make_detector(**settings)
    await detector.start()
    try:
        append(tmp_path / "auth.log", f"Nov 25 07:30:00 web1 sshd[1]: Failed password for {'a' * 3000}! "
                                      "from 1.2.3.4 port 1 ssh2\n")
        timeout = await wait_for(events, "audit.rule.timeout")
        assert timeout.payload["runs"] == 1
        append(tmp_path / "auth.log", "".join(FAILED.format(i=i) for i in range(5)))
        await wait_for(events, "audit.bruteforce")
    finally:
        await detector.stop()


async def test_stalled_log_event(make_detector: Make, events: list[Event],
                                 tmp_path: Path, clock: Any) -> None:
    log = tmp_path / "audit.log"
    log.write_text("")
    detector = make_detector(sources=[{"path": str(log), "parser": "linux-audit", "stall_after": "10m"}])
    detector.build_sources()
    detector.poll()
    clock.advance(599)
    detector.poll()
    assert not [e for e in events if e.kind == "audit.log.stalled"]
    clock.advance(2)
    detector.poll()
    (stalled,) = [e for e in events if e.kind == "audit.log.stalled"]
    assert stalled.subject == str(log) and str(stalled.severity) == "warning"
    append(log, "type=DAEMON_START msg=audit(1.0:1): op=start\n")
    detector.poll()
    assert str(events[-1].severity) == "ok" and events[-1].kind == "audit.log.stalled"
    await detector.stop()


async def test_truncated_and_symlinked_log_events(make_detector: Make,
                                                  events: list[Event], tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("type=DAEMON_START msg=audit(1.0:1): op=start\n")
    detector = make_detector(sources=[{"path": str(log), "parser": "linux-audit", "start_at": "start"}])
    detector.build_sources()
    detector.poll()
    log.write_text("")
    detector.poll()
    assert [e.kind for e in events] == ["audit.log.truncated"]
    log.unlink()
    log.symlink_to(tmp_path / "elsewhere")
    detector.poll()
    assert events[-1].kind == "audit.log.symlink" and str(events[-1].severity) == "warning"
    await detector.stop()


def test_check_reports_unknown_parser_and_bad_options(make_detector: Make,
                                                      tmp_path: Path) -> None:
    detector = make_detector(sources=[{"path": str(tmp_path / "a"), "parser": "linux-audti"},
                                      {"path": str(tmp_path / "b"), "parser": "dsi",
                                       "parser_options": {"nope": 1}}])
    problems = detector.check()
    assert "did you mean 'linux-audit'" in problems[0]
    assert "nope" in problems[1]
    assert make_detector().check() == ["no sources: nothing to follow"]


class UpperParser(Parser):
    """A third-party parser: every line is one record of type ``upper``."""

    def feed(self, line: str, now: float) -> list[Record]:
        return [Record(self.name, "upper", {"text": line.upper(), "action": "x"})]


class ThirdPartyPlugin:
    """What another distribution's plugin module would hold."""

    @staticmethod
    def faultmgr_audit_register_parsers(registry: Any) -> None:
        registry.register("upper", UpperParser)


def test_third_party_parser_through_the_hook(make_detector: Make, events: list[Event],
                                             tmp_path: Path) -> None:
    from faultmgr_audit import plugin

    from faultmgr.hookspecs import hookimpl
    from faultmgr.plugin.manager import Plugins

    hookimpl(ThirdPartyPlugin.faultmgr_audit_register_parsers)
    plugins = Plugins()  # calls faultmgr_addhooks (historic) for every plugin registered after
    plugins.register_module("audit", plugin)
    plugins.register_module("upper-parser", ThirdPartyPlugin)
    plugins.register_types()
    assert plugins.detectors.get("audit") is not None
    assert plugins.failures == []
    log = tmp_path / "x.log"
    log.write_text("hello\n")
    detector = make_detector(sources=[{"path": str(log), "parser": "upper", "start_at": "start"}],
                             match=[{"name": "up", "parser": "upper", "subject": "{text}"}])
    assert detector.check() == []
    detector.build_sources()
    detector.poll()
    assert [(e.kind, e.subject) for e in events] == [("audit.match", "HELLO")]


def test_shipped_rule_file_validates_with_the_core_loader() -> None:
    from faultmgr_audit.parser import build_registry
    from faultmgr_audit.plugin import loading_pluginmanager

    from faultmgr.config.build import load
    from faultmgr.plugin.manager import load_plugins

    plugins = load_plugins()
    assert plugins.failure("audit") is None
    assert loading_pluginmanager() is plugins.pm  # faultmgr_addhooks reached the plugin
    assert {"linux-audit", "syslog-auth", "dsi"} <= set(build_registry(plugins.pm).names())
    config = load([SHIPPED.parents[1] / "contrib" / "etc" / "faultmgr" / "receivers.yaml", SHIPPED], plugins)
    assert config.detectors["audit"].type == "audit"
    assert {"ssh-brute-force", "root-login-unexpected-network", "watched-file-changed",
            "privileged-access-denied", "audit-log-stopped", "audit-log-truncated"} <= set(config.rules)


class BrokenParser(Parser):
    """Raises on lines containing 'boom' (a bug in a third-party parser)."""

    def feed(self, line: str, now: float) -> list[Record]:
        if "boom" in line:
            raise RuntimeError("parser bug")
        return [Record(self.name, "t", {"text": line})]


def test_a_parser_that_raises_loses_only_that_line(make_detector: Make,
                                                   events: list[Event], tmp_path: Path) -> None:
    from faultmgr_audit.parser import ParserRegistry

    registry = ParserRegistry()
    registry.register("broken", BrokenParser)
    log = tmp_path / "x.log"
    log.write_text("one\nboom\ntwo\n")
    detector = make_detector(sources=[{"path": str(log), "parser": "dsi", "start_at": "start"}],
                             match=[{"name": "all", "subject": "{text}"}])
    detector.build_sources()
    follower, _ = detector.sources[0]
    detector._sources[0] = (follower, registry.create("broken"))  # swap in the buggy parser
    detector.poll()
    assert [e.subject for e in events] == ["one", "two"]
    assert detector.status()["parser_errors"] == 1


def test_shipped_rule_file_validates_against_the_json_schema() -> None:
    import jsonschema
    import yaml

    from faultmgr.config.schema import json_schema
    from faultmgr.plugin.manager import load_plugins

    jsonschema.validate(yaml.safe_load(SHIPPED.read_text()), json_schema(load_plugins()))
