"""The fields every probe target shares, and how two declarations are found to be the same check."""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import Field

from faultmgr.config.settings import PluginSettings


class TargetBase(PluginSettings):
    """One target in a probe's ``targets`` list. Check types subclass it with their own options and a
    ``type`` literal, so rule files are validated per type (an ``http`` option on a ``dns`` target is an error)."""

    name: str = Field(description="target name: the event subject, the maintenance file name, the status key")
    type: str = Field(description="check type")
    host: str = Field(default="127.0.0.1", description="address or host name of the real server")
    port: int | None = Field(default=None, ge=1, le=65535,
                             description="port; when unset the check type's usual port")

    #: Port used when ``port`` is unset (``None``: the check has no port).
    default_port: ClassVar[int | None] = None

    @property
    def effective_port(self) -> int | None:
        """``port``, or the check type's usual port."""
        return self.port if self.port is not None else self.default_port

    def identity(self) -> str:
        """What makes two declarations the same check: everything but the name.

        A real server listed in several pools (or twice) then gets one check per interval rather than one
        per listing (keepalived issue #2111).
        """
        data = self.model_dump(mode="json", exclude={"name"})
        data["port"] = self.effective_port
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
