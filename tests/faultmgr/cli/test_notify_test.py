"""``faultmgr notify-test`` (a real subprocess) against a real SMTP server: accepted, server down, no such
receiver."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_lab import SmtpServer

FAULTMGR = str(Path(sys.executable).with_name("faultmgr"))

CONFIG = """\
receivers:
  oncall-mail:
    type: email
    host: 127.0.0.1
    port: {port}
    security: none
    sender: faultmgr@example.invalid
    to: [oncall@example.invalid, backup@example.invalid]
    local_hostname: test.invalid
    timeout: 5s
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.down()


def notify_test(config: Path, receiver: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FAULTMGR, "notify-test", "-c", str(config), receiver, "--message", "check the pager"],
                          capture_output=True, text=True, timeout=60)


def write_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "faultmgr.yaml"
    path.write_text(CONFIG.format(port=port))
    return path


def test_accepted_message_arrives(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.up()
    done = notify_test(write_config(tmp_path, smtp.port), "oncall-mail")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sent: ")
    [message] = smtp.wait(1)
    assert "check the pager" in message["Subject"]
    assert message["From"] == "faultmgr@example.invalid"
    assert "check the pager" in message.get_content()
    assert smtp.recipients == [["oncall@example.invalid", "backup@example.invalid"]]
    # The receipt printed is the message's own Message-ID: the operator can find it in the mail log.
    assert done.stdout.strip() == f"sent: {message['Message-ID']}"


def test_server_down_is_a_transient_failure(tmp_path: Path, smtp: SmtpServer) -> None:
    done = notify_test(write_config(tmp_path, smtp.port), "oncall-mail")  # smtp never came up
    assert done.returncode == 1
    assert "FAILED (transient)" in done.stderr
    assert "Traceback" not in done.stderr
    assert smtp.messages == []


def test_unknown_receiver_is_a_one_line_user_error(tmp_path: Path) -> None:
    done = notify_test(write_config(tmp_path, 25), "no-such-receiver")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "'no-such-receiver'" in lines[0] and "oncall-mail" in lines[0]
    assert done.stdout == ""
