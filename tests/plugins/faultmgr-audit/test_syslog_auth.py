"""syslog-auth parser: sshd and sudo lines, and log injection through the user name."""

from __future__ import annotations

from faultmgr_audit.record import Record
from faultmgr_audit.syslog_auth import SyslogAuthParser, SyslogAuthSettings


def parse(line: str, **options: object) -> Record | None:
    p = SyslogAuthParser("syslog-auth", SyslogAuthSettings(**options))  # type: ignore[arg-type]
    records = p.feed(line, 0.0)
    return records[0] if records else None


def test_failed_password() -> None:
    r = parse("Nov 25 07:30:05 web1 sshd[1234]: Failed password for alice from 10.0.0.5 port 51234 ssh2")
    assert r is not None and r.type == "ssh.failed"
    f = r.fields
    assert (f["user"], f["source_ip"], f["port"], f["host"]) == ("alice", "10.0.0.5", "51234", "web1")
    assert (f["action"], f["outcome"], f["method"]) == ("login", "failure", "password")


def test_failed_password_invalid_user_and_iso_timestamp() -> None:
    r = parse("2026-11-25T07:30:05.123456+00:00 web1 sshd[9]: Failed password for invalid user admin "
              "from 2001:db8::7 port 2222 ssh2")
    assert r is not None and r.fields["user"] == "admin" and r.fields["invalid_user"] == "yes"
    assert r.fields["source_ip"] == "2001:db8::7"


def test_injected_user_name_cannot_move_the_blame() -> None:
    """A user name that contains ' from 10.9.9.9 port 22' stays the user name: the source is the address
    sshd wrote last."""
    r = parse("Nov 25 07:30:05 web1 sshd[1]: Failed password for invalid user x from 10.9.9.9 port 22 "
              "from 203.0.113.4 port 40000 ssh2")
    assert r is not None
    assert r.fields["source_ip"] == "203.0.113.4"
    assert r.fields["user"] == "x from 10.9.9.9 port 22"


def test_accepted_login() -> None:
    r = parse("Nov  5 07:30:05 web1 sshd[1234]: Accepted publickey for root from 192.0.2.1 port 5555 ssh2: "
              "RSA SHA256:abc")
    assert r is not None and r.type == "ssh.accepted"
    assert (r.fields["user"], r.fields["source_ip"], r.fields["outcome"]) == ("root", "192.0.2.1", "success")


def test_repeated_message_counts() -> None:
    r = parse("Nov 25 07:30:05 web1 sshd[1]: message repeated 4 times: [ Failed password for root from "
              "10.0.0.7 port 22 ssh2]")
    assert r is not None and r.count == 4 and r.fields["source_ip"] == "10.0.0.7"


def test_sudo_incorrect_password_attempts() -> None:
    r = parse("Nov 25 07:30:05 web1 sudo:    alice : 3 incorrect password attempts ; TTY=pts/0 ; "
              "PWD=/home/alice ; USER=root ; COMMAND=/bin/sh -c 'a ; b'")
    assert r is not None and r.type == "sudo.failed"
    f = r.fields
    assert (f["user"], f["attempts"], f["target_user"]) == ("alice", "3", "root")
    assert f["command"] == "/bin/sh -c 'a ; b'"


def test_sudo_pam_failure_and_command() -> None:
    r = parse("Nov 25 07:30:05 web1 sudo: pam_unix(sudo:auth): authentication failure; logname=alice "
              "uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice")
    assert r is not None and r.type == "sudo.auth_failure" and r.fields["user"] == "alice"
    r = parse("Nov 25 07:30:05 web1 sudo:    alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/id")
    assert r is not None and r.type == "sudo.command" and r.fields["command"] == "/usr/bin/id"


def test_other_programs_and_lines_ignored() -> None:
    assert parse("Nov 25 07:30:05 web1 cron[1]: Failed password for x from 1.2.3.4 port 1 ssh2") is None
    assert parse("not a syslog line") is None
    assert parse("Nov 25 07:30:05 web1 sshd[1]: Connection closed by 1.2.3.4") is None
    assert parse("Nov 25 07:30:05 web1 sudo:    alice : x", programs=["sshd"]) is None
