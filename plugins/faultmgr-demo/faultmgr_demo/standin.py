"""``demo.vip``: the dry-run backend of the VIP for the demo's loopback story (no root, no interfaces).

It takes the same decisions as ``vip.takeover`` without touching the network: it says what it would do, and
writes the name of the head that would hold the address to a file. The loopback stand-in of the VIP (a small
TCP forwarder, ``faultmgr_demo.programs vipproxy``) sends the client to that head, so the client's outage is
still measured from detection to action, as it would be with a real address.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from pydantic import Field

from faultmgr.alert import AlertView
from faultmgr.component import Action, ActionResult
from faultmgr.config.settings import PluginSettings
from faultmgr.event import Event


class StandInVipSettings(PluginSettings):
    """Settings of ``demo.vip`` (the address is only named in messages)."""

    vip: str = Field(description="the virtual address the real action would take over, e.g. 10.0.0.100/24")
    interface: str = Field("eth0", description="the interface the real action would use")
    holder_file: Path = Field(description="file holding the name of the head that holds the address")
    node: str = Field(min_length=1, description="this head's name, written to holder_file on takeover")
    preferred: bool = Field(False, description="claim the address at start when nobody holds it")
    auto_failback: bool = Field(False, description="a standby gives the address back when its peer returns")


class StandInVip(Action):
    """Moves the loopback stand-in of a VIP; every result is labelled dry run."""

    Settings = StandInVipSettings
    summary = "demo only: a VIP takeover in dry run (writes the holder's name for the loopback stand-in)"
    settings: StandInVipSettings

    def _holder(self) -> str:
        try:
            return self.settings.holder_file.read_text().strip()
        except OSError:
            return ""

    def _write(self, holder: str) -> None:
        # Written to a temporary name and renamed, so the forwarder never reads half a name.
        tmp = self.settings.holder_file.with_suffix(f".{os.getpid()}")
        tmp.write_text(holder + "\n")
        tmp.replace(self.settings.holder_file)

    async def start(self) -> None:
        if self.settings.preferred and not self._holder():
            self._write(self.settings.node)
            self.log.info("dry run: would claim %s on %s at start", self.settings.vip, self.settings.interface)

    def status(self) -> dict[str, Any]:
        return {"vip": self.settings.vip, "holder": self._holder() or None, "dry_run": True}

    async def run(self, alert: AlertView, event: Event | None, resolved: bool = False) -> ActionResult:
        where = f"{self.settings.vip} on {self.settings.interface}"
        if resolved:
            if self.settings.auto_failback and not self.settings.preferred and self._holder() == self.settings.node:
                with contextlib.suppress(OSError):
                    self.settings.holder_file.unlink()
                return ActionResult(True, f"dry run: would release {where} (auto_failback)")
            return ActionResult(True, f"dry run: peer back; would keep {where}")
        if self._holder() == self.settings.node:
            return ActionResult(True, f"dry run: {where} already held here; would re-announce it")
        self._write(self.settings.node)
        return ActionResult(True, f"dry run: would take over {where} and announce it (gratuitous ARP); "
                                  "the loopback stand-in now sends the client here", {"changed": True})
