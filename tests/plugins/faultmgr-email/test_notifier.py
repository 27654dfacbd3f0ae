"""The email notifier against a real aiosmtpd server: plain, STARTTLS, implicit TLS, AUTH, refusals."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from faultmgr_email import EmailNotifier, EmailSettings

from faultmgr import DeliveryError
from faultmgr.alert import AlertView, Notification
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore

STARTS = 1_780_000_000.0
# aiosmtpd warns about AUTH without required TLS: the implicit-TLS server is TLS from the first byte.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
USER, PASSWORD = "pager", "s3cret-pass"  # what the test server in conftest.py accepts


def make_notification(title: str = "[FIRING] heartbeat lost on node2", **alert_kw: Any) -> Notification:
    alert = AlertView(
        id=42, fingerprint="fp-hb-node2", rule="peer-dead", subject="node2", severity="critical",
        state="firing", labels={"cluster": "web"},
        annotations={"summary": "node2 stopped answering heartbeats", "runbook": "https://wiki.invalid/hb"},
        starts_at=STARTS, updated_at=STARTS + 30, count=7, **alert_kw,
    )
    return Notification(id=9, dedup_key="grp-peer-dead-1", receiver="oncall", kind="alert", status="firing",
                        title=title, alerts=[alert], group_labels={"rule": "peer-dead"}, created_at=STARTS + 31)


def make_notifier(tmp_path: Path, **kw: Any) -> EmailNotifier:
    kw.setdefault("host", "127.0.0.1")
    kw.setdefault("sender", "faultmgr <faultmgr@cluster.invalid>")
    kw.setdefault("to", ["ops@cluster.invalid", "pager@cluster.invalid"])
    kw.setdefault("timeout", "5s")
    runtime = Runtime(emit=lambda e: None, state_dir=tmp_path, store=KeyValueStore.memory())
    return EmailNotifier("oncall", EmailSettings(**kw), runtime)


def password_file(tmp_path: Path, secret: str = PASSWORD, mode: int = 0o600) -> Path:
    path = tmp_path / "smtp-password"
    path.write_text(secret + "\n")
    os.chmod(path, mode)
    return path


async def test_plain_delivery_headers_and_body(tmp_path: Path, smtp_server: Any) -> None:
    server = smtp_server("none")
    notifier = make_notifier(tmp_path, port=server.port, security="none")
    await notifier.start()
    receipt = await notifier.send(make_notification())

    (got,) = server.handler.received
    assert got.mail_from == "faultmgr@cluster.invalid"
    assert got.rcpt_tos == ["ops@cluster.invalid", "pager@cluster.invalid"]
    assert not got.tls and not got.authenticated
    msg = got.message
    assert msg["Message-ID"] == receipt
    assert msg["Subject"] == "[FIRING] heartbeat lost on node2"
    assert msg["From"] == "faultmgr <faultmgr@cluster.invalid>"
    assert msg["To"] == "ops@cluster.invalid, pager@cluster.invalid"
    assert msg["X-Faultmgr-Dedup-Key"] == "grp-peer-dead-1"
    body = msg.get_content()
    for needle in ("node2 stopped answering heartbeats", "rule peer-dead", "node2 (cluster=web)",
                   "2026-05-28 20:26:40 UTC", "7 event(s)", "runbook:   https://wiki.invalid/hb", "alert id:  42"):
        assert needle in body


async def test_starttls_with_auth(tmp_path: Path, smtp_server: Any, test_ca: Any) -> None:
    server = smtp_server("starttls", auth=True)
    notifier = make_notifier(tmp_path, port=server.port, security="starttls", ca_file=test_ca.ca_file,
                             username=USER, password_file=password_file(tmp_path))
    assert notifier.check() == []
    await notifier.start()
    await notifier.send(make_notification())
    (got,) = server.handler.received
    assert got.tls and got.authenticated


async def test_starttls_refuses_an_untrusted_certificate(tmp_path: Path, smtp_server: Any) -> None:
    server = smtp_server("starttls")
    notifier = make_notifier(tmp_path, port=server.port, security="starttls")
    with pytest.raises(DeliveryError):
        await notifier.send(make_notification())
    assert server.handler.received == []


async def test_implicit_tls_with_auth_from_environment(tmp_path: Path, smtp_server: Any, test_ca: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server = smtp_server("tls", auth=True)
    monkeypatch.setenv("FAULTMGR_TEST_SMTP_PASSWORD", PASSWORD)
    notifier = make_notifier(tmp_path, port=server.port, security="tls", ca_file=test_ca.ca_file,
                             username=USER, password_env="FAULTMGR_TEST_SMTP_PASSWORD")
    await notifier.send(make_notification())
    (got,) = server.handler.received
    assert got.tls and got.authenticated


async def test_wrong_password_is_permanent(tmp_path: Path, smtp_server: Any, test_ca: Any) -> None:
    server = smtp_server("starttls", auth=True)
    notifier = make_notifier(tmp_path, port=server.port, security="starttls", ca_file=test_ca.ca_file,
                             username=USER, password_file=password_file(tmp_path, "wrong"))
    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())
    assert info.value.permanent
    assert "535" in str(info.value)


async def test_server_down_is_transient(tmp_path: Path, unused_port: int) -> None:
    notifier = make_notifier(tmp_path, port=unused_port, security="none")
    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())
    assert not info.value.permanent


@pytest.mark.parametrize(("reply", "permanent"), [("550 5.1.1 no such user", True),
                                                  ("450 4.2.1 mailbox busy", False)])
async def test_refused_recipients(tmp_path: Path, smtp_server: Any, reply: str, permanent: bool) -> None:
    server = smtp_server("none")
    server.handler.refuse = {"ops@cluster.invalid": reply, "pager@cluster.invalid": reply}
    notifier = make_notifier(tmp_path, port=server.port, security="none")
    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())
    assert info.value.permanent is permanent


async def test_one_refused_recipient_still_delivers_to_the_others(tmp_path: Path, smtp_server: Any) -> None:
    server = smtp_server("none")
    server.handler.refuse = {"ops@cluster.invalid": "550 5.1.1 no such user"}
    notifier = make_notifier(tmp_path, port=server.port, security="none")
    receipt = await notifier.send(make_notification())
    assert "refused: ops@cluster.invalid" in receipt
    assert server.handler.received[0].rcpt_tos == ["pager@cluster.invalid"]


async def test_header_injection_is_neutralised(tmp_path: Path, smtp_server: Any) -> None:
    server = smtp_server("none")
    notifier = make_notifier(tmp_path, port=server.port, security="none")
    await notifier.send(make_notification(title="disk full\r\nBcc: victim@elsewhere.invalid\r\n\r\nhi"))
    (got,) = server.handler.received
    assert got.message["Bcc"] is None
    assert got.rcpt_tos == ["ops@cluster.invalid", "pager@cluster.invalid"]
    assert "\n" not in got.message["Subject"] and "\r" not in got.message["Subject"]


async def test_custom_templates_and_short_subject(tmp_path: Path, smtp_server: Any) -> None:
    server = smtp_server("none")
    notifier = make_notifier(
        tmp_path, port=server.port, security="none", subject_max_length=24,
        subject_template="{{ alerts[0].severity|upper }} {{ subjects|join(',') }} {{ title }}",
        body_template="{% for a in firing %}{{ a.rule }}@{{ a.subject }} x{{ a.count }}\n{% endfor %}",
    )
    await notifier.send(make_notification(title="heartbeat lost on node2"))
    msg = server.handler.received[0].message
    assert msg["Subject"] == "CRITICAL node2 heartb..."
    assert msg.get_content().strip() == "peer-dead@node2 x7"


def test_check_reports_template_errors_and_open_password_files(tmp_path: Path) -> None:
    notifier = make_notifier(tmp_path, subject_template="{{ no_such_name }}", username=USER,
                             password_file=password_file(tmp_path, mode=0o644))
    problems = notifier.check()
    assert any("chmod 600" in p for p in problems)
    assert any("no_such_name" in p for p in problems)


async def test_start_refuses_a_readable_password_file(tmp_path: Path) -> None:
    notifier = make_notifier(tmp_path, username=USER, password_file=password_file(tmp_path, mode=0o644))
    with pytest.raises(ValueError, match="chmod 600"):
        await notifier.start()


def test_sandbox_blocks_python_internals(tmp_path: Path) -> None:
    notifier = make_notifier(tmp_path, body_template="{{ notification.__class__.__mro__ }}")
    with pytest.raises(DeliveryError, match="template"):
        notifier.build_message(make_notification())


def test_settings_reject_bad_addresses_and_templates() -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        EmailSettings(sender="faultmgr@x.invalid", to=["ops@x.invalid\nBcc: a@b.invalid"])
    with pytest.raises(ValueError, match="does not compile"):
        EmailSettings(sender="faultmgr@x.invalid", to=["ops@x.invalid"], body_template="{% for %}")
    with pytest.raises(ValueError, match="exactly one"):
        EmailSettings(sender="faultmgr@x.invalid", to=["ops@x.invalid"], username="u")
