"""The shipped rules/security.yaml end to end: lines in the logs -> detector events -> alerts and pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultmgr_audit import AuditDetector

from faultmgr.event import Event

SHIPPED = Path(__file__).resolve().parents[3] / "rules" / "security.yaml"
# contrib/etc/faultmgr/receivers.yaml pages by e-mail; the harness records pages whatever the type, a log receiver will do.
RULES = SHIPPED.read_text() + "\nreceivers:\n  security-team: {type: log}\n"


def append(path: Path, text: str) -> None:
    with open(path, "a") as out:
        out.write(text)


def replay(harness: Any, events: list[Event]) -> None:
    """Hand the detector's events to the rules at the harness's (virtual) time."""
    for e in events:
        harness.feed(e.kind, e.subject, e.severity, source=e.source, labels=e.labels, payload=e.payload,
                     message=e.message)


def test_shipped_rules_page_the_security_team(faultmgr_harness: Callable[[str], Any],
                                              make_detector: Callable[..., AuditDetector],
                                              shipped_settings: Callable[[], dict[str, Any]],
                                              events: list[Event], tmp_path: Path) -> None:
    harness = faultmgr_harness(RULES)
    detector = make_detector(**shipped_settings())
    detector.build_sources()
    append(tmp_path / "auth.log", "".join(
        f"Nov 25 07:30:0{i} web1 sshd[9]: Failed password for root from 203.0.113.9 port 4{i} ssh2\n"
        for i in range(5)))
    append(tmp_path / "auth.log", "Nov 25 07:31:00 web1 sshd[7]: Accepted password for root from 198.51.100.4 "
                                  "port 5000 ssh2\n")
    append(tmp_path / "audit.log",
           'type=SYSCALL msg=audit(1700000000.1:10): syscall=257 success=no exit=-13 uid=0 euid=0 '
           'exe="/usr/sbin/backupd" key="identity"\n'
           'type=PATH msg=audit(1700000000.1:10): item=0 name="/etc/shadow"\n'
           'type=EOE msg=audit(1700000000.1:10): \n')
    detector.poll()
    replay(harness, events)
    harness.advance(1)
    alerts = {a.rule: a for n in harness.sent_to("security-team") for a in n.alerts}
    assert {"ssh-brute-force", "root-login-unexpected-network", "watched-file-changed",
            "privileged-access-denied"} <= set(alerts), harness.timeline()
    assert alerts["ssh-brute-force"].annotations["summary"] == (
        "brute force from 203.0.113.9: 5 failed logins within 1m (last user root)")
    assert alerts["root-login-unexpected-network"].annotations["summary"] == (
        "root logged in on web1 from 198.51.100.4, outside the allowed networks")
    assert alerts["privileged-access-denied"].annotations["summary"] == (
        "privileged process /usr/sbin/backupd was denied access to /etc/shadow")


def test_brute_force_and_stalled_log_alerts_resolve(faultmgr_harness: Callable[[str], Any],
                                                    make_detector: Callable[..., AuditDetector],
                                                    shipped_settings: Callable[[], dict[str, Any]],
                                                    events: list[Event], clock: Any, tmp_path: Path) -> None:
    harness = faultmgr_harness(RULES)
    detector = make_detector(**shipped_settings())
    detector.build_sources()
    append(tmp_path / "auth.log", "".join(
        f"Nov 25 07:30:0{i} web1 sshd[9]: Failed password for bob from 203.0.113.9 port 4{i} ssh2\n"
        for i in range(5)))
    detector.poll()
    clock.advance(601)  # past the minute window, and past the audit log's stall_after (10m)
    detector.poll()
    replay(harness, events)
    harness.advance(1)
    firing = {a.rule for a in harness.alerts if a.state == "firing"}
    assert "audit-log-stopped" in firing and "ssh-brute-force" not in firing, harness.timeline()
    harness.advance(60)  # the receiver's group_interval: then the resolution is paged
    assert any(n.status == "resolved" for n in harness.sent_to("security-team")
               if any(a.rule == "ssh-brute-force" for a in n.alerts)), "\n".join(harness.timeline())
    events.clear()
    append(tmp_path / "audit.log", "type=DAEMON_START msg=audit(1.0:1): op=start\n")
    detector.poll()
    replay(harness, events)
    harness.advance(1)
    assert "audit-log-stopped" not in {a.rule for a in harness.alerts if a.state == "firing"}, harness.timeline()
