"""``example.textfile``: appends a human-readable block per notification to a file."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import Field

from faultmgr import DeliveryError, Notification, Notifier, PluginSettings


class TextFileSettings(PluginSettings):
    path: Path = Field(description="file to append to")


class TextFileNotifier(Notifier):
    """One block per notification: a title line, then one line per alert."""

    Settings = TextFileSettings
    summary = "append readable notifications to a text file"
    settings: TextFileSettings

    async def send(self, notification: Notification) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(notification.created_at))
        lines = [f"{stamp} {notification.title}"] + [f"  {a.state} {a.rule} {a.subject}" for a in notification.alerts]
        try:
            with self.settings.path.open("a", encoding="utf-8") as out:
                out.write("\n".join(lines) + "\n")
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.settings.path}: {exc.strerror}") from exc
        return str(self.settings.path)
