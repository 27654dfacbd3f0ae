"""``example.load``: watches the 1-minute load average and says when it crosses a threshold."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from pydantic import Field

from faultmgr import Detector, Duration, PluginSettings


class LoadSettings(PluginSettings):
    threshold: float = Field(4.0, gt=0, description="1-minute load average above which the node is loaded")
    interval: Duration = Field(10.0, description="how often to read the load average")
    loadavg_file: Path = Field(Path("/proc/loadavg"), description="where to read it (tests point elsewhere)")
    node: str = Field(default_factory=socket.gethostname, description="subject of the events (default: host name)")


class LoadDetector(Detector):
    """Emits ``load.high`` (warning) when the load crosses the threshold and ``load.ok`` when it falls back."""

    Settings = LoadSettings
    summary = "1-minute load average above a threshold"
    events = {"load.high": "the load average rose above the threshold",
              "load.ok": "the load average fell back below it"}
    settings: LoadSettings

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.high: bool | None = None
        self.last: float | None = None
        self._task: asyncio.Task[None] | None = None

    def read(self) -> float:
        return float(self.settings.loadavg_file.read_text().split()[0])

    def check_once(self) -> None:
        """Read the load once and emit an event if it crossed the threshold."""
        self.last = self.read()
        high = self.last > self.settings.threshold
        if high != self.high:
            if high:
                self.emit("load.high", self.settings.node, "warning", payload={"load1": self.last},
                          message=f"load {self.last} > {self.settings.threshold}")
            elif self.high is not None:
                self.emit("load.ok", self.settings.node, "ok", payload={"load1": self.last})
            self.high = high

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                self.check_once()
            except (OSError, ValueError, IndexError) as exc:
                self.log.warning("cannot read %s: %s", self.settings.loadavg_file, exc)
            await asyncio.sleep(self.settings.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def status(self) -> dict[str, object]:
        return {"load1": self.last, "high": self.high}
