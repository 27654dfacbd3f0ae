"""The ``syslog-auth`` parser: sshd and sudo lines of ``/var/log/auth.log`` (or the journal's syslog form).

Only the parts a program wrote after its own fixed text are trusted to be what they say: the user name
an attacker types is matched greedily and the source address is the *last* ``from ADDR port N`` of the
line, so a user name such as ``x from 10.9.9.9 port 22`` cannot pin the failure on someone else
(the fail2ban log-injection mistake). Tests: test_syslog_auth.py::test_injected_user_name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import Field

from faultmgr.config.settings import PluginSettings
from faultmgr_audit.parser import Parser
from faultmgr_audit.record import Record

# "Nov 25 07:30:05 host prog[pid]: msg" or "2026-11-25T07:30:05.123+00:00 host prog[pid]: msg".
_HEADER = re.compile(r"(?:\w{3} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) (\S+) ([\w./-]+)(?:\[(\d+)\])?: ")
_REPEATED = re.compile(r"message repeated (\d+) times: \[ ?(.*?) ?\]$")
_SSH_FAILED = re.compile(r"Failed (\S+) for (invalid user )?(.*) from (\S+) port (\d+)(?: \w+)?(?: \[preauth\])?$")
_SSH_ACCEPTED = re.compile(r"Accepted (\S+) for (.*) from (\S+) port (\d+)(?: \w+)?(?:: .*)?$")
_SSH_INVALID = re.compile(r"Invalid user (.*) from (\S+)(?: port (\d+))?$")
_SUDO_ATTEMPTS = re.compile(r"\s*(\S+) : (\d+) incorrect password attempts? ; (.*)$")
_SUDO_COMMAND = re.compile(r"\s*(\S+) : (.*)$")
_PAM_FAILURE = re.compile(r"pam_unix\((\S+?):auth\): authentication failure; (.*)$")
_KV = re.compile(r"(\w+)=(\S*)")


class SyslogAuthSettings(PluginSettings):
    """Options of the ``syslog-auth`` parser."""

    programs: list[str] = Field(["sshd", "sudo"], description="programs whose lines are parsed (others are "
                                                              "counted as unparsed)")


def _ssh(msg: str, fields: dict[str, str]) -> str | None:
    if msg.startswith("Failed "):
        m = _SSH_FAILED.match(msg)
        if m:
            fields.update(method=m[1], user=m[3], source_ip=m[4], port=m[5], action="login",
                          outcome="failure")
            if m[2]:
                fields["invalid_user"] = "yes"
            return "ssh.failed"
    elif msg.startswith("Accepted "):
        m = _SSH_ACCEPTED.match(msg)
        if m:
            fields.update(method=m[1], user=m[2], source_ip=m[3], port=m[4], action="login", outcome="success")
            return "ssh.accepted"
    elif msg.startswith("Invalid user "):
        m = _SSH_INVALID.match(msg)
        if m:
            fields.update(user=m[1], source_ip=m[2], action="login", outcome="invalid-user")
            return "ssh.invalid_user"
    return None


def _sudo(msg: str, fields: dict[str, str]) -> str | None:
    m = _SUDO_ATTEMPTS.match(msg)
    if m:
        fields.update(user=m[1], attempts=m[2], action="sudo", outcome="failure")
        fields.update(_sudo_details(m[3]))
        return "sudo.failed"
    m = _PAM_FAILURE.match(msg)
    if m:
        details = dict(_KV.findall(m[2]))
        fields.update(user=details.get("ruser") or details.get("logname") or details.get("user", ""),
                      action="sudo", outcome="failure", service=m[1])
        if details.get("rhost"):
            fields["source_ip"] = details["rhost"]
        return "sudo.auth_failure"
    m = _SUDO_COMMAND.match(msg)
    if m and "COMMAND=" in m[2]:
        fields.update(user=m[1], action="sudo", outcome="success")
        fields.update(_sudo_details(m[2]))
        return "sudo.command"
    return None


def _sudo_details(text: str) -> dict[str, str]:
    # "TTY=pts/0 ; PWD=/home/a ; USER=root ; COMMAND=/bin/sh -c x": COMMAND is last and may hold " ; ".
    details: dict[str, str] = {}
    head, sep, command = text.partition("COMMAND=")
    for part in head.split(" ; "):
        key, eq, value = part.strip().partition("=")
        if eq:
            details[key.lower()] = value
    if sep:
        details["command"] = command
    if "user" in details:
        details["target_user"] = details.pop("user")
    return details


_PROGRAMS: dict[str, Callable[[str, dict[str, str]], str | None]] = {"sshd": _ssh, "sudo": _sudo}


class SyslogAuthParser(Parser):
    """Parses sshd and sudo authentication lines."""

    Settings = SyslogAuthSettings
    summary = "syslog authentication lines: sshd failed/accepted logins, sudo failures and commands"
    options: SyslogAuthSettings

    def __init__(self, name: str, options: PluginSettings) -> None:
        super().__init__(name, options)
        self._programs = {p: _PROGRAMS[p] for p in self.options.programs if p in _PROGRAMS}

    def feed(self, line: str, now: float) -> list[Record]:
        header = _HEADER.match(line)
        handler = self._programs.get(header[2]) if header else None
        if header is None or handler is None:
            self.unparsed += 1
            return []
        msg = line[header.end():]
        count = 1
        if msg.startswith("message repeated "):
            repeated = _REPEATED.match(msg)
            if repeated:
                count, msg = min(int(repeated[1]), 1_000_000), repeated[2]
        fields = {"host": header[1], "program": header[2], "pid": header[3] or ""}
        rtype = handler(msg, fields)
        if rtype is None:
            self.unparsed += 1
            return []
        return [Record("syslog-auth", rtype, fields, None, line[:512], count)]
