"""``fs``: a mounted filesystem answers a stat and a small write within the timeout, and has free space.

A stale NFS mount blocks any process that touches it in uninterruptible sleep, so the work happens in a
thread of its own: the event loop only waits on a future. A thread stuck that way cannot be killed; while it
is stuck the check reports so and does not start another (threads never pile up, one per target at most).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from faultmgr_probes.result import CheckResult, ProbeFn
from faultmgr_probes.target import TargetBase


class FsTarget(TargetBase):
    """A directory on the filesystem to watch."""

    type: Literal["fs"] = Field(description="check type")
    path: Path = Field(description="a directory on the filesystem (its mount point, say)")
    write: bool = Field(default=True, description="also write, fsync and remove a small file there")
    min_free_percent: float = Field(default=0.0, ge=0, le=100,
                                    description="fail when less than this share of space is free")
    min_free_bytes: int = Field(default=0, ge=0, description="fail when fewer bytes than this are free")


def probe_filesystem(target: FsTarget) -> dict[str, Any]:
    """The blocking part: stat, optional write+fsync+unlink, statvfs. Raises OSError."""
    os.stat(target.path)
    if target.write:
        probe = target.path / f".faultmgr-probe-{os.getpid()}-{threading.get_ident()}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"faultmgr probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    vfs = os.statvfs(target.path)
    free = vfs.f_bavail * vfs.f_frsize
    total = vfs.f_blocks * vfs.f_frsize
    return {"free_bytes": free, "total_bytes": total,
            "free_percent": round(100.0 * free / total, 2) if total else 0.0}


class FsCheck:
    """The prepared check for one filesystem; remembers a thread that is still stuck."""

    def __init__(self, target: FsTarget) -> None:
        self.target = target
        self.stuck_since: float | None = None

    async def __call__(self, timeout: float) -> CheckResult:
        """Run the probe in a thread; the caller's timeout abandons (not kills) a stuck one."""
        if self.stuck_since is not None:
            return CheckResult.critical(f"previous check blocked for {time.monotonic() - self.stuck_since:.0f}s "
                                        f"(stale mount?)", blocked=True)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.stuck_since = time.monotonic()

        def deliver(info: dict[str, Any] | None, error: OSError | None) -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(info or {})

        def work() -> None:
            info, error = None, None
            try:
                info = probe_filesystem(self.target)
            except OSError as exc:
                error = exc
            self.stuck_since = None
            if not loop.is_closed():
                loop.call_soon_threadsafe(deliver, info, error)

        threading.Thread(target=work, name=f"fs-probe {self.target.name}", daemon=True).start()
        try:
            info = await done
        except OSError as exc:
            return CheckResult.critical(f"{self.target.path}: {exc.strerror or exc}")
        return self.judge(info)

    def judge(self, info: dict[str, Any]) -> CheckResult:
        """Free space against the thresholds."""
        target = self.target
        if info["free_percent"] < target.min_free_percent:
            return CheckResult.critical(f"{info['free_percent']}% free < {target.min_free_percent}%", **info)
        if info["free_bytes"] < target.min_free_bytes:
            return CheckResult.critical(f"{info['free_bytes']} bytes free < {target.min_free_bytes}", **info)
        return CheckResult.ok(f"{info['free_percent']}% free", **info)


def build(target: FsTarget) -> ProbeFn:
    """The prepared check for ``target``."""
    return FsCheck(target)
