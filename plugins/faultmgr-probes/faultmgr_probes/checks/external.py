"""``external``: run a Nagios-compatible check plugin (exit 0/1/2/3, a status line, performance data).

The plugin runs in a session of its own and, at the timeout or once it has exited, the whole process
group is killed: a script that hangs, or leaves a child behind, never piles up (keepalived PR #429 and
issue #2720 are the failure this avoids).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from functools import partial
from typing import Any, Literal

from pydantic import Field

from faultmgr_probes.result import CheckResult, ProbeFn, Status
from faultmgr_probes.target import TargetBase

_EXIT_STATUS = {0: Status.OK, 1: Status.WARNING, 2: Status.CRITICAL, 3: Status.UNKNOWN}
_PERF_ITEM = re.compile(r"('(?:[^']|'')+'|[^=\s]+)=(\S+)")
_NUMBER = re.compile(r"^(-?[0-9.]+(?:[eE][-+]?\d+)?)(.*)$")


class ExternalTarget(TargetBase):
    """A check program; ``{host}``, ``{port}`` and ``{name}`` in its arguments are replaced."""

    type: Literal["external"] = Field(description="check type")
    command: list[str] = Field(min_length=1,
                               description="program and arguments, e.g. [/usr/lib/nagios/plugins/check_http, "
                                           "-H, '{host}']")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    max_output: int = Field(default=8192, ge=64, description="bytes of output kept")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_perfdata(text: str) -> dict[str, dict[str, Any]]:
    """``'rta'=0.1ms;100;500;0 pl=0%`` -> ``{"rta": {"value": 0.1, "unit": "ms", "warn": "100", ...}}``."""
    result: dict[str, dict[str, Any]] = {}
    for label, data in _PERF_ITEM.findall(text):
        label = label[1:-1].replace("''", "'") if label.startswith("'") else label
        fields = data.split(";")
        match = _NUMBER.match(fields[0])
        item: dict[str, Any] = {"value": _number(match.group(1)) if match else None,
                                "unit": match.group(2) if match else ""}
        for key, value in zip(("warn", "crit", "min", "max"), fields[1:], strict=False):
            if value:
                item[key] = _number(value) if _number(value) is not None else value
        result[label] = item
    return result


def parse_output(output: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """Plugin output -> (first line's text, performance data from every line)."""
    lines = output.splitlines() or [""]
    text, _, perf = lines[0].partition("|")
    perfdata = parse_perfdata(perf)
    rest = "\n".join(lines[1:])
    if "|" in rest:
        perfdata.update(parse_perfdata(rest.partition("|")[2]))
    return text.strip(), perfdata


def kill_group(pgid: int) -> None:
    """SIGKILL every process left in the plugin's group (gone already is fine)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _read_bounded(stream: asyncio.StreamReader, limit: int) -> bytes:
    """Read to the end of the stream, keeping the first ``limit`` bytes (a chatty plugin cannot fill memory)."""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < limit:
            kept += chunk[:limit - len(kept)]
    return bytes(kept)


async def check_external(target: ExternalTarget, timeout: float) -> CheckResult:
    """Run the plugin once; the caller's timeout cancels it, which kills its process group."""
    port = "" if target.port is None else str(target.port)
    argv = [arg.format(host=target.host, port=port, name=target.name) for arg in target.command]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True, env={**os.environ, **target.env})
    except OSError as exc:
        return CheckResult(Status.UNKNOWN, f"cannot run {argv[0]}: {exc.strerror or exc}")
    assert proc.stdout is not None
    reader = asyncio.ensure_future(_read_bounded(proc.stdout, target.max_output))
    try:
        code = await proc.wait()
        kill_group(proc.pid)  # children it left behind would keep the pipe open and pile up
        output = (await reader).decode("utf-8", "replace")
    finally:
        if proc.returncode is None or not reader.done():
            kill_group(proc.pid)
            reader.cancel()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            # Reap it so no zombie stays; the group is dead, so this returns at once.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(proc.wait())
    text, perfdata = parse_output(output)
    status = _EXIT_STATUS.get(code, Status.UNKNOWN)
    reason = text or f"exit {code}"
    return CheckResult(status, reason, payload={"exit_code": code, "perfdata": perfdata})


def build(target: ExternalTarget) -> ProbeFn:
    """The prepared check for ``target``."""
    return partial(check_external, target)
