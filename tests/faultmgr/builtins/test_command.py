"""The ``command`` built-in action with real programs: the alert reaches the program as FAULTMGR_* variables
and as JSON on stdin, values from events never become arguments, and a timeout kills the whole process
group (children included), not just the program it started."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from faultmgr.alert import AlertView
from faultmgr.builtins.command import CommandAction, CommandSettings
from faultmgr.event import Event, Severity
from faultmgr.runtime import Runtime

# What a hostile detector could put in an event: shell syntax that would run if it reached a shell or argv.
HOSTILE = "web1; touch {marker} $(touch {marker}) `touch {marker}`"

RECORD = """
import json, os, sys
data = {"argv": sys.argv[1:], "env": {k: v for k, v in os.environ.items() if k.startswith("FAULTMGR_")},
        "stdin": json.load(sys.stdin)}
with open(os.environ["OUT"], "w") as fh:
    json.dump(data, fh)
"""


def action(argv: list[str], dry_run: bool = False, **settings: Any) -> CommandAction:
    return CommandAction("cmd", CommandSettings(argv=argv, **settings), Runtime(emit=lambda e: None, dry_run=dry_run))


async def test_dry_run_runs_nothing_and_says_what_it_would_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = await action(["touch", str(marker)], dry_run=True).run(alert("web1"), None)
    assert result.ok and result.detail == f"dry run: would have run touch {marker}"
    assert not marker.exists()


def alert(subject: str, **kw: Any) -> AlertView:
    return AlertView(id=7, fingerprint="f1ngerpr1nt", rule="svc-down", subject=subject, severity="critical",
                     state="firing", labels={"node": "head-a", "my-label": "x"}, **kw)


async def test_alert_in_environment_and_on_stdin_and_never_in_argv(tmp_path: Path) -> None:
    out, marker = tmp_path / "out.json", tmp_path / "pwned"
    subject = HOSTILE.format(marker=marker)
    event = Event(kind="service.down", source="probes", subject=subject, severity=Severity.CRITICAL,
                  payload={"reason": "$(touch " + str(marker) + ")"})
    run = action([sys.executable, "-c", RECORD, "{subject}", "$FAULTMGR_SUBJECT"], env={"OUT": str(out)})
    result = await run.run(alert(subject), event)
    assert result.ok, result
    assert result.detail == "exit 0" and result.data == {"exit_code": 0}
    seen = json.loads(out.read_text())
    assert seen["argv"] == ["{subject}", "$FAULTMGR_SUBJECT"]  # as written: nothing substituted
    env = seen["env"]
    assert env["FAULTMGR_SUBJECT"] == subject
    assert env["FAULTMGR_ALERT_ID"] == "7" and env["FAULTMGR_FINGERPRINT"] == "f1ngerpr1nt"
    assert env["FAULTMGR_RULE"] == "svc-down" and env["FAULTMGR_SEVERITY"] == "critical"
    assert env["FAULTMGR_STATE"] == "firing" and env["FAULTMGR_SUMMARY"] == f"svc-down on {subject}"
    assert env["FAULTMGR_EVENT_KIND"] == "service.down" and env["FAULTMGR_EVENT_SOURCE"] == "probes"
    assert env["FAULTMGR_LABEL_NODE"] == "head-a" and env["FAULTMGR_LABEL_MY_LABEL"] == "x"
    assert seen["stdin"]["alert"]["subject"] == subject and seen["stdin"]["alert"]["fingerprint"] == "f1ngerpr1nt"
    assert seen["stdin"]["event"]["payload"] == event.payload
    assert not marker.exists()


async def test_resolve_runs_only_with_on_resolve_and_says_resolved(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    skipped = await action([sys.executable, "-c", RECORD], env={"OUT": str(out)}).run(alert("web1"), None, True)
    assert skipped.ok and "skipped" in skipped.detail and not out.exists()
    done = await action([sys.executable, "-c", RECORD], env={"OUT": str(out)}, on_resolve=True).run(
        alert("web1"), None, True)
    assert done.ok
    seen = json.loads(out.read_text())
    assert seen["env"]["FAULTMGR_STATE"] == "resolved" and "FAULTMGR_EVENT_KIND" not in seen["env"]
    assert seen["stdin"]["event"] is None


async def test_exit_status_and_missing_program_are_failures(tmp_path: Path) -> None:
    failed = await action(["sh", "-c", "echo first; echo 'disk full' >&2; exit 3"]).run(alert("web1"), None)
    assert not failed.ok and failed.detail == "exit 3: disk full" and failed.data == {"exit_code": 3}
    missing = await action([str(tmp_path / "nope")]).run(alert("web1"), None)
    assert not missing.ok and missing.detail.startswith("program not found")


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The shell starts a child that ignores nothing and would outlive the shell if only the shell were killed.
    script = f"sleep 300 & echo $$ $! > {pids}; wait"
    task = asyncio.ensure_future(action(["sh", "-c", script]).run(alert("web1"), None))
    deadline = time.monotonic() + 30
    while not (pids.exists() and len(pids.read_text().split()) == 2):
        assert time.monotonic() < deadline, "the command did not start"
        await asyncio.sleep(0.02)
    shell, child = (int(p) for p in pids.read_text().split())
    assert os.getpgid(child) == shell  # its own group, led by the program the action started
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(task, 0.2)  # how the runner applies the action's `timeout`
    deadline = time.monotonic() + 10
    while not (gone(shell) and gone(child)):
        assert time.monotonic() < deadline, "a process of the group outlived the timeout"
        await asyncio.sleep(0.02)
