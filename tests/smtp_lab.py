"""A real SMTP server (aiosmtpd) for the core's end-to-end tests (import as ``from smtp_lab import ...``).

:class:`SmtpServer` picks a loopback port at once but listens only after :meth:`SmtpServer.up`, so a test can
point a receiver at a server that is down and bring it up later on the same port.
"""

from __future__ import annotations

import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from loopback import free_port


class SmtpServer:
    """Plain SMTP on 127.0.0.1 that keeps every message it accepts (its envelope recipients included)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted"

    def up(self) -> None:
        """Start listening on :attr:`port`."""
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """Until at least ``count`` messages arrived (fails after ``timeout``); returns all of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.messages)} message(s) arrived on port {self.port}, expected {count}")
