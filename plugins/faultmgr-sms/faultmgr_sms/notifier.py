"""The ``sms`` notifier: a short text to several phone numbers through Twilio's Messages API."""

from __future__ import annotations

import contextvars
import re
from typing import Any

import aiohttp
from pydantic import AnyHttpUrl, Field, field_validator, model_validator
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from faultmgr.alert import Notification
from faultmgr.component import DeliveryError, Notifier
from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration, SecretFile
from faultmgr_sms.credentials import load_credentials
from faultmgr_sms.segments import fit

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
#: Twilio refuses a Body longer than 1,600 characters; 10 segments of 153 stay below.
MAX_SEGMENTS = 10
#: How many notifications' partial deliveries are remembered (oldest forgotten first).
REMEMBERED = 1000

# Retry-After of the last 429 seen by the request running in this task (the library drops headers when it
# turns an error response into an exception, so the HTTP client notes it on the way).
_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar("retry_after", default=None)


class SmsSettings(PluginSettings):
    """Settings of an ``sms`` receiver."""

    to: list[str] = Field(min_length=1, description="recipients' numbers in E.164 form, e.g. +15551234567")
    sender: str | None = Field(None, description="the From: a Twilio number (E.164) or an alphanumeric sender ID")
    messaging_service_sid: str | None = Field(None, description="a Messaging Service (MG...) instead of sender")
    credentials_file: SecretFile | None = Field(
        None, description="file (mode 0600) with TWILIO_ACCOUNT_SID=... and TWILIO_AUTH_TOKEN=... lines; "
                          "the environment is used when unset")
    account_sid_env: str = Field("TWILIO_ACCOUNT_SID", description="environment variable with the account SID")
    auth_token_env: str = Field("TWILIO_AUTH_TOKEN", description="environment variable with the auth token")
    max_segments: int = Field(1, ge=1, le=MAX_SEGMENTS,
                              description="longest text in SMS segments (160 GSM-7 characters for one); "
                                          "longer texts are cut and end with '...'")
    api_base_url: AnyHttpUrl | None = Field(None, description="API root instead of https://api.twilio.com "
                                                              "(a local proxy, tests)")
    timeout: Duration = Field(10.0, description="time allowed for each request")

    @field_validator("to")
    @classmethod
    def _numbers(cls, value: list[str]) -> list[str]:
        for number in value:
            if not E164.match(number):
                raise ValueError(f"{number!r} is not an E.164 number (+ and up to 15 digits)")
        return value

    @model_validator(mode="after")
    def _origin(self) -> SmsSettings:
        if (self.sender is None) == (self.messaging_service_sid is None):
            raise ValueError("set exactly one of sender and messaging_service_sid")
        if self.sender is not None and not (E164.match(self.sender) or ALPHANUMERIC_SENDER.match(self.sender)):
            raise ValueError(f"sender {self.sender!r} is neither an E.164 number nor an alphanumeric sender ID")
        if self.messaging_service_sid is not None and not MESSAGING_SERVICE_SID.match(self.messaging_service_sid):
            raise ValueError("messaging_service_sid must be MG followed by 32 hex digits")
        return self


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """The library's async client, noting ``Retry-After`` of a 429 for :func:`delivery_error`."""

    async def request(self, *args: Any, **kwargs: Any) -> Response:
        response = await super().request(*args, **kwargs)
        if response.status_code == 429:
            try:
                _retry_after.set(max(0.0, float((response.headers or {}).get("Retry-After", ""))))
            except ValueError:
                _retry_after.set(None)
        return response


def delivery_error(exc: Exception, number: str) -> DeliveryError:
    """401/403 and other 4xx are permanent (bad credentials, a refused number); 429 and 5xx are not."""
    if isinstance(exc, TwilioRestException):
        text = f"{number}: HTTP {exc.status} (Twilio error {exc.code}): {exc.msg}"
        if exc.status == 429:
            return DeliveryError(text, retry_after=_retry_after.get())
        return DeliveryError(text, permanent=400 <= exc.status < 500)
    return DeliveryError(f"{number}: {type(exc).__name__}: {exc}")


def sms_text(notification: Notification) -> str:
    """``FIRING: title`` then one line per alert: severity, subject and summary."""
    lines = [f"{notification.status.upper()}: {notification.title}"]
    if notification.text:
        lines.append(notification.text)
    lines += [f"{a.severity.upper()} {a.subject}: {a.summary}" for a in notification.alerts]
    return "\n".join(lines)


class SmsNotifier(Notifier):
    """Sends one SMS per number; remembers the numbers served, so a retry only goes to those that failed."""

    Settings = SmsSettings
    summary = "SMS through Twilio's API to several numbers (text cut to a number of segments)"
    settings: SmsSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http: _HttpClient | None = None
        self._client: Client | None = None
        self._sent: dict[str, dict[str, str]] = {}

    def check(self) -> list[str]:
        s = self.settings
        try:
            load_credentials(s.credentials_file, s.account_sid_env, s.auth_token_env)
        except ValueError as exc:
            return [str(exc)]
        return []

    async def start(self) -> None:
        s = self.settings
        try:
            credentials = load_credentials(s.credentials_file, s.account_sid_env, s.auth_token_env)
        except ValueError as exc:
            raise ValueError(f"sms receiver {self.name}: {exc}") from None
        self._http = _HttpClient(timeout=s.timeout)
        self._client = Client(credentials.account_sid, credentials.auth_token, http_client=self._http)
        if s.api_base_url is not None:
            # The library has no base-URL option (edge/region only rename the twilio.com host).
            self._client.api.base_url = str(s.api_base_url).rstrip("/")

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = self._client = None

    async def _send_one(self, number: str, body: str) -> str:
        assert self._client is not None
        s = self.settings
        _retry_after.set(None)
        try:
            message = await self._client.messages.create_async(
                to=number, body=body, from_=s.sender, messaging_service_sid=s.messaging_service_sid)
        except (TimeoutError, TwilioException, aiohttp.ClientError, OSError) as exc:
            raise delivery_error(exc, number) from exc
        return str(message.sid)

    async def send(self, notification: Notification) -> str:
        if self._client is None:
            await self.start()
        body = fit(sms_text(notification), self.settings.max_segments)
        sent = self._sent.setdefault(notification.dedup_key, {})
        while len(self._sent) > REMEMBERED:
            del self._sent[next(iter(self._sent))]
        errors: list[DeliveryError] = []
        for number in self.settings.to:
            if number in sent:
                continue
            try:
                sent[number] = await self._send_one(number, body)
            except DeliveryError as exc:
                errors.append(exc)
        if errors:
            retry_after = max((e.retry_after for e in errors if e.retry_after is not None), default=None)
            raise DeliveryError("; ".join(map(str, errors)), retry_after=retry_after,
                                permanent=all(e.permanent for e in errors))
        return ", ".join(self._sent.pop(notification.dedup_key).values())
