"""Built-in ``webhook`` notifier: HTTP POST of the notification as JSON, with its deduplication key."""

from __future__ import annotations

import json

import aiohttp
from pydantic import AnyHttpUrl, Field

from faultmgr.alert import Notification
from faultmgr.component import DeliveryError, Notifier
from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry

DEDUP_HEADER = "Idempotency-Key"


class WebhookSettings(PluginSettings):
    url: AnyHttpUrl = Field(description="where to POST the notification (http or https)")
    timeout: Duration = Field(10.0, description="time allowed for the whole request")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    verify_tls: bool = Field(True, description="verify the server's certificate for https")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from an HTTP ``Retry-After`` header in its delay-seconds form."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class WebhookNotifier(Notifier):
    """POSTs ``notification.to_dict()``; the ``Idempotency-Key`` header carries the deduplication key."""

    Settings = WebhookSettings
    summary = "HTTP POST of the alert group as JSON (with a deduplication key)"
    settings: WebhookSettings

    async def send(self, notification: Notification) -> str:
        body = json.dumps(notification.to_dict(), sort_keys=True)
        headers = {"Content-Type": "application/json", DEDUP_HEADER: notification.dedup_key,
                   **self.settings.headers}
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
                str(self.settings.url), data=body, headers=headers,
                ssl=self.settings.verify_tls,
            ) as resp:
                text = (await resp.text())[:200]
                if resp.status == 429 or resp.status >= 500:
                    raise DeliveryError(f"HTTP {resp.status}: {text}",
                                        retry_after=parse_retry_after(resp.headers.get("Retry-After")))
                if resp.status >= 400:
                    raise DeliveryError(f"HTTP {resp.status}: {text}", permanent=True)
                return f"HTTP {resp.status}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


@hookimpl
def faultmgr_register_notifiers(registry: TypeRegistry[Notifier]) -> None:
    registry.register("webhook", WebhookNotifier)
