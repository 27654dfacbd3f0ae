"""The ``email`` notifier: one message per notification, over SMTP, to several recipients."""

from __future__ import annotations

import functools
import os
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Literal

import aiosmtplib
from jinja2 import TemplateError
from pydantic import Field, field_validator, model_validator

from faultmgr.alert import Notification
from faultmgr.component import DeliveryError, Notifier
from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration, SecretFile, check_private_file
from faultmgr_email.rendering import MessageTemplates, check_syntax, default_template, sample_notification

#: Port used when ``port`` is unset, by ``security`` mode.
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@functools.cache
def local_fqdn() -> str:
    """This host's name for Message-IDs, looked up once (``getfqdn`` may wait on the resolver)."""
    return socket.getfqdn()


def header_value(text: str) -> str:
    """A value safe to put in a header: CR and LF removed, so it cannot start a header of its own."""
    return " ".join(text.replace("\r", "\n").split("\n")).strip()


def _address(value: str) -> str:
    value = header_value(value)
    if "@" not in value or any(ch.isspace() for ch in value.rsplit("<", 1)[-1]):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


class EmailSettings(PluginSettings):
    """Settings of an ``email`` receiver."""

    host: str = Field("localhost", description="SMTP server (name or address)")
    port: int | None = Field(None, ge=1, le=65535,
                             description="SMTP port; default 587 for starttls, 465 for tls, 25 for none")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls: upgrade a plain connection (required); tls: implicit TLS (SMTPS); "
                                "none: no encryption (a local relay only)")
    ca_file: Path | None = Field(None, description="PEM file of CA certificates to trust instead of the system's")
    verify_tls: bool = Field(True, description="verify the server's certificate and host name")
    username: str | None = Field(None, description="AUTH user name; no AUTH when unset")
    password_file: SecretFile | None = Field(None, description="file holding the AUTH password (mode 0600)")
    password_env: str | None = Field(None, description="environment variable holding the AUTH password")
    sender: str = Field(description="the From address, e.g. 'faultmgr <faultmgr@example.org>'")
    to: list[str] = Field(min_length=1, description="recipient addresses (one message, several recipients)")
    subject_template: str | None = Field(None, description="Jinja2 template of the subject (sandboxed); "
                                                           "the shipped one when unset")
    body_template: str | None = Field(None, description="Jinja2 template of the body (sandboxed); "
                                                        "the shipped one when unset")
    subject_max_length: int = Field(78, ge=20, le=998,
                                    description="longest subject, in characters (pager gateways cut short)")
    timeout: Duration = Field(15.0, description="time allowed for each SMTP step")
    local_hostname: str | None = Field(None, description="name sent in EHLO; this host's FQDN when unset")

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]

    @field_validator("subject_template", "body_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return None if value is None else check_syntax(value)

    @model_validator(mode="after")
    def _auth(self) -> EmailSettings:
        if self.username is None and (self.password_file or self.password_env):
            raise ValueError("password_file/password_env given without username")
        if self.username is not None and bool(self.password_file) == bool(self.password_env):
            raise ValueError("with username, set exactly one of password_file and password_env")
        return self


def delivery_error(exc: Exception) -> DeliveryError:
    """Map an aiosmtplib error to a :class:`DeliveryError`: 5xx and bad credentials are permanent."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return DeliveryError(f"SMTP authentication failed: {exc.code} {exc.message}", permanent=True)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(f"all recipients refused: {detail}", permanent=all(c >= 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"SMTP {exc.code} {exc.message}", permanent=exc.code >= 500)
    return DeliveryError(f"{type(exc).__name__}: {exc}")


class EmailNotifier(Notifier):
    """Sends each notification as one e-mail: a short subject for pagers and a body with the whole group."""

    Settings = EmailSettings
    summary = "page by e-mail over SMTP (STARTTLS / TLS, AUTH), subject and body from Jinja2 templates"
    settings: EmailSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compiled: MessageTemplates | None = None

    def _templates(self) -> MessageTemplates:
        s = self.settings
        return MessageTemplates(s.subject_template or default_template("subject.j2"),
                                s.body_template or default_template("body.j2"), s.subject_max_length)

    def check(self) -> list[str]:
        problems: list[str] = []
        s = self.settings
        if s.password_file is not None:
            try:
                check_private_file(s.password_file, "SMTP password file")
            except ValueError as exc:
                problems.append(str(exc))
        if s.password_env is not None and s.password_env not in os.environ:
            problems.append(f"environment variable {s.password_env} (SMTP password) is not set")
        if s.ca_file is not None and not s.ca_file.is_file():
            problems.append(f"CA file {s.ca_file} does not exist")
        try:
            self._templates().render(sample_notification())
        except TemplateError as exc:
            problems.append(f"template fails on a sample notification: {exc}")
        return problems

    async def start(self) -> None:
        problems = self.check()
        if problems:
            raise ValueError(f"email receiver {self.name}: " + "; ".join(problems))
        self._compiled = self._templates()

    def _password(self) -> str | None:
        s = self.settings
        if s.password_file is not None:
            return s.password_file.read_text(encoding="utf-8").rstrip("\r\n")
        if s.password_env is not None:
            return os.environ.get(s.password_env)
        return None

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.settings.ca_file) if self.settings.ca_file else None)
        if not self.settings.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def build_message(self, notification: Notification) -> EmailMessage:
        """The message for ``notification`` (raises :class:`DeliveryError` if a template fails)."""
        templates = self._compiled or self._templates()
        try:
            subject, body = templates.render(notification)
        except TemplateError as exc:
            raise DeliveryError(f"template error: {exc}", permanent=True) from exc
        s = self.settings
        message = EmailMessage()
        message["From"] = s.sender
        message["To"] = ", ".join(s.to)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid("faultmgr", domain=s.local_hostname or local_fqdn())
        # Lets a mail filter or a pager gateway thread and drop duplicates of one notification.
        message["X-Faultmgr-Dedup-Key"] = header_value(notification.dedup_key)
        message["X-Faultmgr-Status"] = header_value(notification.status)
        message.set_content(body)
        return message

    async def send(self, notification: Notification) -> str:
        s = self.settings
        message = self.build_message(notification)
        try:
            refused, _reply = await aiosmtplib.send(
                message, hostname=s.host, port=s.port or DEFAULT_PORTS[s.security],
                use_tls=s.security == "tls", start_tls=s.security == "starttls",
                tls_context=self._tls_context() if s.security != "none" else None,
                username=s.username, password=self._password(), timeout=s.timeout,
                # Named here: left unset, aiosmtplib looks the FQDN up again in a worker thread on every
                # connection, a thread hop on the path of every page.
                local_hostname=s.local_hostname or local_fqdn(),
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise delivery_error(exc) from exc
        receipt = str(message["Message-ID"])
        if refused:
            # Some recipients got it: do not resend to them; record who did not.
            self.log.warning("%s: recipients refused: %s", self.name,
                             ", ".join(f"{rcpt} ({resp.code})" for rcpt, resp in refused.items()))
            receipt += " refused: " + ", ".join(sorted(refused))
        return receipt
