"""The ``pagerduty`` notifier: sends Events API v2 events and maps the API's answers to delivery outcomes."""

from __future__ import annotations

import json
from typing import Any, Literal

import aiohttp
from pydantic import AnyHttpUrl, Field

from faultmgr.alert import Notification
from faultmgr.builtins.webhook import parse_retry_after
from faultmgr.component import DeliveryError, Notifier
from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration, SecretFile, check_private_file
from faultmgr_pagerduty.events import build_events

EVENTS_API = "https://events.pagerduty.com/v2/enqueue"
#: An integration (routing) key is 32 characters.
ROUTING_KEY_LENGTH = 32


class PagerDutySettings(PluginSettings):
    """Settings of a ``pagerduty`` receiver."""

    routing_key_file: SecretFile = Field(description="file (mode 0600) holding the integration's routing key")
    api_url: AnyHttpUrl = Field(AnyHttpUrl(EVENTS_API), description="Events API v2 endpoint (a proxy, tests)")
    dedup_by: Literal["group", "alert"] = Field(
        "group", description="group: one incident per alert group; alert: one incident per alert")
    source: str | None = Field(None, description="payload.source; the alerts' subjects when unset")
    timeout: Duration = Field(10.0, description="time allowed for each request")


def read_routing_key(settings: PagerDutySettings) -> str:
    """The routing key, checked (``ValueError`` says what is wrong, never the key)."""
    check_private_file(settings.routing_key_file, "PagerDuty routing key file")
    key = settings.routing_key_file.read_text(encoding="utf-8").strip()
    if len(key) != ROUTING_KEY_LENGTH:
        raise ValueError(f"PagerDuty routing key in {settings.routing_key_file} must be "
                         f"{ROUTING_KEY_LENGTH} characters (it has {len(key)})")
    return key


class PagerDutyNotifier(Notifier):
    """Triggers, acknowledges and resolves PagerDuty incidents through the Events API v2."""

    Settings = PagerDutySettings
    summary = "PagerDuty Events API v2: trigger / acknowledge / resolve with a deduplication key"
    settings: PagerDutySettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session: aiohttp.ClientSession | None = None

    def check(self) -> list[str]:
        try:
            read_routing_key(self.settings)
        except ValueError as exc:
            return [str(exc)]
        return []

    async def start(self) -> None:
        problems = self.check()
        if problems:
            raise ValueError(f"pagerduty receiver {self.name}: " + "; ".join(problems))
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, event: dict[str, Any]) -> str:
        assert self._session is not None
        try:
            async with self._session.post(str(self.settings.api_url), json=event) as resp:
                text = (await resp.text())[:300]
                if resp.status == 202:
                    return str(json.loads(text).get("dedup_key") or event["dedup_key"])
                detail = f"{event['event_action']} {event['dedup_key']}: HTTP {resp.status}: {text}"
                if resp.status == 429 or resp.status >= 500:
                    raise DeliveryError(detail, retry_after=parse_retry_after(resp.headers.get("Retry-After")))
                raise DeliveryError(detail, permanent=True)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc

    async def send(self, notification: Notification) -> str:
        if self._session is None:
            await self.start()
        events = build_events(read_routing_key(self.settings), notification, self.settings.dedup_by,
                              self.settings.source)
        # Events of one notification are independent incidents: PagerDuty drops a repeated one by its
        # dedup_key, so a retry after a partial failure may safely send them all again.
        keys = [await self._post(event) for event in events]
        return ", ".join(f"{e['event_action']} {k}" for e, k in zip(events, keys, strict=True))
