"""The sms notifier against a local Twilio stand-in that checks each request against the API contract."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from faultmgr_sms import SmsNotifier, SmsSettings
from faultmgr_sms.segments import segments, units

from faultmgr import DeliveryError
from faultmgr.alert import AlertView, Notification
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore

# twilio 9.13 still hands aiohttp a BasicAuth, which aiohttp 3.14 deprecates; not ours to fix.
pytestmark = [pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning")]
NUMBERS = ["+15551230001", "+15551230002"]


def make_notification(summary: str = "node2 stopped answering heartbeats", alerts: int = 1) -> Notification:
    items = [AlertView(id=i, fingerprint=f"fp{i}", rule="peer-dead", subject=f"node{i + 2}", severity="critical",
                       state="firing", annotations={"summary": summary}) for i in range(alerts)]
    return Notification(id=1, dedup_key="grp-1", receiver="sms", kind="alert", status="firing",
                        title="peer-dead", alerts=items)


def credentials_file(tmp_path: Path, twilio: Any, mode: int = 0o600) -> Path:
    path = tmp_path / "twilio.env"
    path.write_text(f"# Twilio\nTWILIO_ACCOUNT_SID={twilio.account_sid}\nTWILIO_AUTH_TOKEN={twilio.auth_token}\n")
    os.chmod(path, mode)
    return path


def make_notifier(tmp_path: Path, twilio: Any, **kw: Any) -> SmsNotifier:
    kw.setdefault("to", NUMBERS)
    kw.setdefault("sender", "+15559870000")
    kw.setdefault("api_base_url", twilio.base_url)
    kw.setdefault("timeout", "5s")
    if "account_sid_env" not in kw and "credentials_file" not in kw:
        kw["credentials_file"] = credentials_file(tmp_path, twilio)
    runtime = Runtime(emit=lambda e: None, state_dir=tmp_path, store=KeyValueStore.memory())
    return SmsNotifier("sms", SmsSettings(**kw), runtime)


async def test_sends_to_every_number_within_the_contract(tmp_path: Path, twilio: Any) -> None:
    notifier = make_notifier(tmp_path, twilio)
    await notifier.start()
    try:
        receipt = await notifier.send(make_notification())
    finally:
        await notifier.stop()
    assert twilio.violations == []
    assert [r["To"] for r in twilio.requests] == NUMBERS
    assert all(r["From"] == "+15559870000" for r in twilio.requests)
    assert twilio.requests[0]["Body"] == "FIRING: peer-dead\nCRITICAL node2: node2 stopped answering heartbeats"
    sids = receipt.split(", ")
    assert len(sids) == 2 and all(s.startswith("SM") and len(s) == 34 for s in sids)


async def test_messaging_service_and_credentials_from_environment(tmp_path: Path, twilio: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FM_SID", twilio.account_sid)
    monkeypatch.setenv("FM_TOKEN", twilio.auth_token)
    notifier = make_notifier(tmp_path, twilio, sender=None, messaging_service_sid="MG" + "ab" * 16,
                             account_sid_env="FM_SID", auth_token_env="FM_TOKEN", to=NUMBERS[:1])
    assert notifier.check() == []
    await notifier.send(make_notification())
    await notifier.stop()
    assert twilio.violations == []
    assert twilio.requests[0]["MessagingServiceSid"] == "MG" + "ab" * 16
    assert "From" not in twilio.requests[0]


@pytest.mark.parametrize(("max_segments", "limit"), [(1, 160), (3, 3 * 153)])
async def test_long_text_is_cut_to_the_segment_limit(tmp_path: Path, twilio: Any, max_segments: int,
                                                     limit: int) -> None:
    notifier = make_notifier(tmp_path, twilio, to=NUMBERS[:1], max_segments=max_segments)
    await notifier.send(make_notification(alerts=30))
    await notifier.stop()
    body = twilio.requests[0]["Body"]
    assert body.endswith("...")
    assert limit - 10 < units(body, "gsm7") <= limit
    assert segments(body) == max_segments


async def test_unicode_text_is_cut_to_ucs2_segments(tmp_path: Path, twilio: Any) -> None:
    notifier = make_notifier(tmp_path, twilio, to=NUMBERS[:1])
    await notifier.send(make_notification(summary="узел не отвечает 🔥" * 10))
    await notifier.stop()
    body = twilio.requests[0]["Body"]
    assert body.endswith("...") and units(body, "ucs2") <= 70 and segments(body) == 1


async def test_wrong_token_is_permanent(tmp_path: Path, twilio: Any) -> None:
    path = tmp_path / "bad.env"
    path.write_text(f"TWILIO_ACCOUNT_SID={twilio.account_sid}\nTWILIO_AUTH_TOKEN=wrong\n")
    os.chmod(path, 0o600)
    notifier = make_notifier(tmp_path, twilio, credentials_file=path)
    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())
    await notifier.stop()
    assert info.value.permanent and "HTTP 401" in str(info.value)


async def test_429_carries_retry_after_and_500_is_transient(tmp_path: Path, twilio: Any) -> None:
    twilio.replies = [(429, {"Retry-After": "7"}), (500, {})]
    notifier = make_notifier(tmp_path, twilio)
    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())
    assert info.value.retry_after == 7.0
    assert not info.value.permanent
    assert "HTTP 429" in str(info.value) and "HTTP 500" in str(info.value)
    # The retry goes to both numbers again (neither got it), and now succeeds.
    receipt = await notifier.send(make_notification())
    await notifier.stop()
    assert len(receipt.split(", ")) == 2 and len(twilio.requests) == 4
    assert twilio.violations == []


async def test_retry_only_goes_to_numbers_that_failed(tmp_path: Path, twilio: Any) -> None:
    twilio.replies = [(500, {})]  # the first number fails, the second gets it
    notifier = make_notifier(tmp_path, twilio)
    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())
    assert NUMBERS[0] in str(info.value) and NUMBERS[1] not in str(info.value)
    receipt = await notifier.send(make_notification())
    await notifier.stop()
    assert [r["To"] for r in twilio.requests] == [NUMBERS[0], NUMBERS[1], NUMBERS[0]]
    assert len(receipt.split(", ")) == 2


async def test_server_down_is_transient(tmp_path: Path, twilio: Any, unused_port: int) -> None:
    notifier = make_notifier(tmp_path, twilio, api_base_url=f"http://127.0.0.1:{unused_port}")
    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())
    await notifier.stop()
    assert not info.value.permanent


async def test_readable_credentials_file_is_refused(tmp_path: Path, twilio: Any) -> None:
    notifier = make_notifier(tmp_path, twilio, credentials_file=credentials_file(tmp_path, twilio, 0o644))
    assert any("chmod 600" in p for p in notifier.check())
    with pytest.raises(ValueError, match="chmod 600"):
        await notifier.start()


async def test_stand_in_rejects_what_breaks_the_contract(twilio: Any) -> None:
    auth = {"Authorization": aiohttp.encode_basic_auth(twilio.account_sid, twilio.auth_token)}
    url = f"{twilio.base_url}/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    async with aiohttp.ClientSession() as session:
        for form in ({"Body": "no To"}, {"To": "+15551230001", "Body": "x"},
                     {"To": "+15551230001", "From": "+15559870000", "Body": "x", "ValidityPeriod": "soon"},
                     {"To": "+15551230001", "From": "+15559870000", "Body": "x", "Unknown": "1"}):
            async with session.post(url, data=form, headers=auth) as resp:
                assert resp.status == 400, form
        async with session.post(url, data={"To": "+15551230001", "From": "+15559870000", "Body": "x"}) as resp:
            assert resp.status == 401
    assert len(twilio.violations) == 4


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="E.164"):
        SmsSettings(to=["5551234"], sender="+15559870000")
    with pytest.raises(ValueError, match="exactly one"):
        SmsSettings(to=NUMBERS)
    with pytest.raises(ValueError, match="max_segments"):
        SmsSettings(to=NUMBERS, sender="faultmgr", max_segments=11)


def test_segment_counting() -> None:
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2
    assert segments("{" * 80) == 1 and segments("{" * 81) == 2  # extension characters take two septets
    assert segments("é" * 160) == 1  # é is in GSM-7
    assert segments("ж" * 70) == 1 and segments("ж" * 71) == 2
    assert segments("a" * 153 * 3) == 3 and segments("a" * (153 * 3 + 1)) == 4
