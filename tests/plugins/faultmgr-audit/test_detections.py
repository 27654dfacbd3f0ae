"""Stateful detections: brute-force window, root login networks, watches, denied access."""

from __future__ import annotations

import pytest
from faultmgr_audit.detections import (
    BruteForce,
    BruteForceSettings,
    Denied,
    DeniedSettings,
    RootLogin,
    RootLoginSettings,
    Watch,
    WatchSettings,
)
from faultmgr_audit.record import Record


def failure(ip: str, user: str = "root", count: int = 1) -> Record:
    return Record("syslog-auth", "ssh.failed", {"action": "login", "outcome": "failure", "source_ip": ip,
                                                "user": user}, None, "line", count)


def login(ip: str, user: str = "root", parser: str = "syslog-auth") -> Record:
    return Record(parser, "ssh.accepted", {"action": "login", "outcome": "success", "source_ip": ip,
                                           "user": user, "host": "web1"})


def test_bruteforce_fires_at_threshold_within_window_once() -> None:
    brute = BruteForce(BruteForceSettings(threshold=5, window=60.0))
    results = [brute.observe(failure("198.51.100.7"), t) for t in (0, 10, 20, 30)]
    assert results == [None] * 4
    finding = brute.observe(failure("198.51.100.7", "admin"), 40)
    assert finding is not None and finding.kind == "audit.bruteforce" and finding.severity == "critical"
    assert finding.subject == "198.51.100.7" and finding.labels["source_ip"] == "198.51.100.7"
    assert finding.payload["failures"] == 5 and finding.payload["last_user"] == "admin"
    assert brute.observe(failure("198.51.100.7"), 45) is None  # already firing: once


def test_bruteforce_failures_outside_the_window_do_not_count() -> None:
    brute = BruteForce(BruteForceSettings(threshold=3, window=60.0))
    assert brute.observe(failure("192.0.2.1"), 0) is None
    assert brute.observe(failure("192.0.2.1"), 50) is None
    assert brute.observe(failure("192.0.2.1"), 100) is None  # the one at 0 has left the window
    assert brute.observe(failure("192.0.2.1"), 105) is not None


def test_bruteforce_sources_are_separate_and_repeats_count() -> None:
    brute = BruteForce(BruteForceSettings(threshold=4, window=60.0))
    assert brute.observe(failure("192.0.2.1"), 0) is None
    assert brute.observe(failure("192.0.2.2"), 0) is None
    finding = brute.observe(failure("192.0.2.2", count=3), 1)  # "message repeated 3 times"
    assert finding is not None and finding.subject == "192.0.2.2"


def test_bruteforce_recovers_after_a_quiet_window() -> None:
    brute = BruteForce(BruteForceSettings(threshold=2, window=60.0))
    brute.observe(failure("192.0.2.1"), 0)
    assert brute.observe(failure("192.0.2.1"), 1) is not None
    assert brute.tick(30) == []
    (ok,) = brute.tick(61)
    assert ok.kind == "audit.bruteforce" and ok.severity == "ok" and ok.subject == "192.0.2.1"
    assert brute.tick(200) == []


def test_bruteforce_ignores_successes_and_sourceless_failures() -> None:
    brute = BruteForce(BruteForceSettings(threshold=1, window=60.0))
    assert brute.observe(login("192.0.2.1"), 0) is None
    assert brute.observe(Record("syslog-auth", "sudo.failed", {"action": "sudo", "outcome": "failure"}), 0) is None


def test_bruteforce_memory_is_bounded() -> None:
    brute = BruteForce(BruteForceSettings(threshold=3, window=60.0, max_sources=100))
    for i in range(10_000):
        brute.observe(failure(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"), 0)
    assert len(brute._recent) == 100


@pytest.mark.parametrize(("ip", "fires"), [("127.0.0.1", False), ("10.1.2.3", False), ("10.255.0.1", False),
                                           ("192.0.2.50", True), ("2001:db8::1", True), ("fd00::5", False),
                                           ("evil.example", True)])
def test_root_login_networks(ip: str, fires: bool) -> None:
    root = RootLogin(RootLoginSettings(allowed_networks=["127.0.0.0/8", "10.0.0.0/8", "fd00::/8"]))
    finding = root.observe(login(ip))
    assert (finding is not None) is fires
    if finding:
        assert finding.kind == "audit.root_login" and finding.severity == "critical"
        assert finding.labels["user"] == "root"


def test_root_login_other_users_failures_and_local_logins_ignored() -> None:
    root = RootLogin(RootLoginSettings(allowed_networks=["10.0.0.0/8"]))
    local_su = Record("linux-audit", "USER_AUTH", {"action": "login", "outcome": "success", "user": "root"})
    assert root.observe(local_su) is None
    assert root.observe(login("192.0.2.1", user="alice")) is None
    assert root.observe(failure("192.0.2.1")) is None


def test_root_login_bad_network_refused() -> None:
    with pytest.raises(ValueError):
        RootLoginSettings(allowed_networks=["10.0.0.0/33"])


def test_watch_keys() -> None:
    rec = Record("linux-audit", "SYSCALL", {"key": "etc-shadow", "name": "/etc/shadow", "exe": "/usr/bin/vi",
                                            "uid": "0"})
    finding = Watch(WatchSettings()).observe(rec)
    assert finding is not None and finding.kind == "audit.watch" and finding.subject == "/etc/shadow"
    assert finding.labels["key"] == "etc-shadow"
    assert Watch(WatchSettings(keys=["sudoers"])).observe(rec) is None
    assert Watch(WatchSettings()).observe(Record("linux-audit", "SYSCALL", {"uid": "0"})) is None
    rule_added = Record("linux-audit", "CONFIG_CHANGE", {"key": "etc-shadow", "op": "add_rule"})
    assert Watch(WatchSettings()).observe(rule_added) is None


def test_denied_privileged_syscall_and_dsi() -> None:
    denied = Denied(DeniedSettings())
    syscall = Record("linux-audit", "SYSCALL", {"success": "no", "exit": "-13", "uid": "0", "exe": "/usr/sbin/x",
                                                "name": "/etc/shadow"})
    finding = denied.observe(syscall)
    assert finding is not None and finding.kind == "audit.denied" and finding.subject == "/usr/sbin/x"
    assert finding.labels["object"] == "/etc/shadow"
    assert denied.observe(Record("linux-audit", "SYSCALL", dict(syscall.fields, uid="1000"))) is None
    assert denied.observe(Record("linux-audit", "SYSCALL", dict(syscall.fields, exit="-2"))) is None
    dsi = Record("dsi", "DSI_ACCESS", {"subject": "init", "object": "/x", "permission": "write",
                                       "outcome": "deny", "privileged": "yes"})
    finding = denied.observe(dsi)
    assert finding is not None and finding.subject == "init" and "write" in finding.message
    assert denied.observe(Record("dsi", "DSI_ACCESS", dict(dsi.fields, privileged="no"))) is None


def test_bruteforce_window_ignores_the_time_a_line_claims() -> None:
    """Failures whose records claim times hours apart still count together when they are read together."""
    brute = BruteForce(BruteForceSettings(threshold=3, window=60.0))
    found = None
    for claimed in (0.0, 7200.0, 14400.0):
        rec = failure("192.0.2.8")
        rec.time = 1_700_000_000 + claimed
        found = brute.observe(rec, 5.0)
    assert found is not None
