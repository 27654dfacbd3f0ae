"""Built-in ``command`` action: run a program with the alert in its environment and on stdin.

As keepalived's notify scripts, but with a timeout that kills the program's whole process group, and with
values passed as environment variables and JSON (never interpolated into a shell command line).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal

from pydantic import Field

from faultmgr.alert import AlertView
from faultmgr.component import Action, ActionResult
from faultmgr.config.settings import PluginSettings
from faultmgr.event import Event
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry


class CommandSettings(PluginSettings):
    argv: list[str] = Field(min_length=1, description="program and arguments (no shell)")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    on_resolve: bool = Field(False, description="also run when the alert resolves (FAULTMGR_STATE=resolved)")


def alert_environment(alert: AlertView, event: Event | None, resolved: bool) -> dict[str, str]:
    """The ``FAULTMGR_*`` variables a command sees."""
    env = {
        "FAULTMGR_ALERT_ID": str(alert.id),
        "FAULTMGR_FINGERPRINT": alert.fingerprint,
        "FAULTMGR_RULE": alert.rule,
        "FAULTMGR_SUBJECT": alert.subject,
        "FAULTMGR_SEVERITY": alert.severity,
        "FAULTMGR_STATE": "resolved" if resolved else alert.state,
        "FAULTMGR_SUMMARY": alert.summary,
    }
    if event is not None:
        env["FAULTMGR_EVENT_KIND"] = event.kind
        env["FAULTMGR_EVENT_SOURCE"] = event.source
    for key, value in alert.labels.items():
        safe = "".join(c if c.isalnum() else "_" for c in key).upper()
        env[f"FAULTMGR_LABEL_{safe}"] = value
    return {k: v.replace("\0", "") for k, v in env.items()}


async def run_program(argv: list[str], env: dict[str, str], stdin: bytes, timeout: float) -> tuple[int, str]:
    """Run ``argv`` in its own process group; on timeout kill the whole group. Returns (code, output)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode("utf-8", "replace")


class CommandAction(Action):
    """Runs a program; exit status 0 is success."""

    Settings = CommandSettings
    summary = "run a program with the alert in FAULTMGR_* variables and as JSON on stdin"
    settings: CommandSettings

    async def run(self, alert: AlertView, event: Event | None, resolved: bool = False) -> ActionResult:
        if resolved and not self.settings.on_resolve:
            return ActionResult(True, "skipped (on_resolve is off)")
        if self.runtime.dry_run:  # `faultmgr run --dry-run`: say what would run, run nothing
            return ActionResult(True, "dry run: would have run " + shlex.join(self.settings.argv), {"changed": False})
        env = {**os.environ, **self.settings.env, **alert_environment(alert, event, resolved)}
        stdin = json.dumps({"alert": alert.to_dict(), "event": event.to_dict() if event else None}).encode()
        try:
            code, output = await run_program(self.settings.argv, env, stdin, timeout=3600)
        except FileNotFoundError:
            return ActionResult(False, f"program not found: {self.settings.argv[0]}")
        except PermissionError:
            return ActionResult(False, f"program not executable: {self.settings.argv[0]}")
        last = output.strip().splitlines()[-1:] if output.strip() else []
        detail = f"exit {code}" + (f": {last[0][:200]}" if last else "")
        return ActionResult(code == 0, detail, {"exit_code": code})


@hookimpl
def faultmgr_register_actions(registry: TypeRegistry[Action]) -> None:
    registry.register("command", CommandAction)
