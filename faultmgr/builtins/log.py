"""Built-in ``log`` notifier: one JSON line per notification, to a file or standard output."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

from pydantic import Field

from faultmgr.alert import Notification
from faultmgr.component import DeliveryError, Notifier
from faultmgr.config.settings import PluginSettings
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry


class LogSettings(PluginSettings):
    path: Path | None = Field(None, description="file to append JSON lines to (created 0640); "
                                                "standard output when unset")


class LogNotifier(Notifier):
    """Appends each notification as one JSON line."""

    Settings = LogSettings
    summary = "write each notification as a JSON line to a file or stdout"
    settings: LogSettings

    async def send(self, notification: Notification) -> str:
        line = json.dumps(notification.to_dict(), sort_keys=True) + "\n"
        if self.settings.path is None:
            sys.stdout.write(line)
            sys.stdout.flush()
            return "stdout"
        try:
            fd = os.open(self.settings.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            info = os.fstat(fd)
            mode = stat.S_IMODE(info.st_mode)
            # An existing file others may read, or group members rewrite: alerts are private. Only a regular
            # file: a path such as /dev/stderr must keep its mode.
            if stat.S_ISREG(info.st_mode) and mode & 0o026:
                os.fchmod(fd, mode & ~0o026)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(line)
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.settings.path}: {exc.strerror}") from exc
        return str(self.settings.path)


@hookimpl
def faultmgr_register_notifiers(registry: TypeRegistry[Notifier]) -> None:
    registry.register("log", LogNotifier)
