"""The snmp notifier against net-snmp's snmptrapd: v2c traps and informs, v3 authPriv, several stations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from faultmgr_snmp import SnmpNotifier, SnmpSettings

from faultmgr import DeliveryError
from faultmgr.alert import AlertView, Notification
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore

ENGINE_ID = "80001f8804666d677274657374"
AUTH_PASS, PRIV_PASS = "auth-pass-phrase", "priv-pass-phrase"


def make_alert(state: str = "firing", acknowledged_by: str | None = None, subject: str = "node2") -> AlertView:
    return AlertView(id=4242, fingerprint="fp1", rule="peer-dead", subject=subject, severity="critical",
                     state=state, annotations={"summary": f"{subject} stopped answering heartbeats"},
                     starts_at=1_780_000_000.0, acknowledged_by=acknowledged_by)


def make_notification(state: str = "firing", acknowledged_by: str | None = None) -> Notification:
    return Notification(id=1, dedup_key="grp-1", receiver="nms", kind="alert", status=state, title="t",
                        alerts=[make_alert(state, acknowledged_by)])


def make_notifier(tmp_path: Path, **kw: Any) -> SnmpNotifier:
    runtime = Runtime(emit=lambda e: None, state_dir=tmp_path, store=KeyValueStore.memory())
    return SnmpNotifier("nms", SnmpSettings(**kw), runtime)


def key_file(tmp_path: Path, name: str, secret: str) -> Path:
    path = tmp_path / name
    path.write_text(secret + "\n")
    os.chmod(path, 0o600)
    return path


def v3_settings(tmp_path: Path, port: int, priv_pass: str = PRIV_PASS, auth_pass: str = AUTH_PASS
                ) -> dict[str, Any]:
    return {"stations": [f"127.0.0.1:{port}"], "version": "v3", "user": "faultmgr", "engine_id": ENGINE_ID,
            "auth_protocol": "SHA-256", "priv_protocol": "AES-128",
            "auth_key_file": key_file(tmp_path, f"auth-{auth_pass}.key", auth_pass),
            "priv_key_file": key_file(tmp_path, f"priv-{priv_pass}.key", priv_pass)}


V2C_CONF = ["authCommunity log public"]
V3_CONF = [f"createUser -e 0x{ENGINE_ID} faultmgr SHA-256 {AUTH_PASS} AES {PRIV_PASS}", "authUser log faultmgr priv"]


async def test_v2c_trap_decodes_to_mib_names(tmp_path: Path, snmptrapd: Any) -> None:
    trapd = snmptrapd(V2C_CONF)
    notifier = make_notifier(tmp_path, stations=[f"127.0.0.1:{trapd.port}"])
    await notifier.start()
    try:
        receipt = await notifier.send(make_notification())
    finally:
        await notifier.stop()
    assert receipt == "1 v2c trap(s) to 1 station(s)"
    log = trapd.wait_for("faultmgrAlertDescription")
    assert "FAULTMGR-MIB::faultmgrAlertRaised" in log
    assert "FAULTMGR-MIB::faultmgrAlertId.0 = Gauge32: 4242" in log
    assert "FAULTMGR-MIB::faultmgrAlertSeverity.0 = INTEGER: critical(4)" in log
    assert 'FAULTMGR-MIB::faultmgrAlertSubject.0 = STRING: node2' in log
    assert 'FAULTMGR-MIB::faultmgrAlertRule.0 = STRING: peer-dead' in log
    assert 'FAULTMGR-MIB::faultmgrAlertDescription.0 = STRING: node2 stopped answering heartbeats' in log


@pytest.mark.parametrize(("state", "acked", "name"), [("resolved", None, "faultmgrAlertCleared"),
                                                      ("firing", "alice", "faultmgrAlertAcknowledged")])
async def test_cleared_and_acknowledged(tmp_path: Path, snmptrapd: Any, state: str, acked: str | None,
                                        name: str) -> None:
    trapd = snmptrapd(V2C_CONF)
    notifier = make_notifier(tmp_path, stations=[f"127.0.0.1:{trapd.port}"])
    await notifier.send(make_notification(state, acked))
    await notifier.stop()
    trapd.wait_for(f"FAULTMGR-MIB::{name}")


async def test_v2c_inform_to_several_stations_is_acknowledged(tmp_path: Path, snmptrapd: Any) -> None:
    first, second = snmptrapd(V2C_CONF), snmptrapd(V2C_CONF)
    notifier = make_notifier(tmp_path, mode="inform", timeout="1s", retries=2,
                             stations=[f"127.0.0.1:{first.port}", {"host": "127.0.0.1", "port": second.port}])
    notification = make_notification()
    notification.alerts.append(make_alert(subject="node3"))
    receipt = await notifier.send(notification)
    await notifier.stop()
    assert receipt == "2 v2c inform(s) to 2 station(s)"
    for trapd in (first, second):
        trapd.wait_for("node2 stopped answering")
        trapd.wait_for("node3 stopped answering")


async def test_inform_without_a_receiver_fails(tmp_path: Path, snmptrapd: Any, unused_udp_port: int) -> None:
    trapd = snmptrapd(V2C_CONF)
    silent = unused_udp_port
    notifier = make_notifier(tmp_path, mode="inform", timeout="200ms", retries=1,
                             stations=[f"127.0.0.1:{trapd.port}", f"127.0.0.1:{silent}"])
    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())
    assert not info.value.permanent
    assert f"127.0.0.1:{silent}" in str(info.value)
    assert f"127.0.0.1:{trapd.port}" not in str(info.value)
    # The retry goes only to the station that did not acknowledge.
    with pytest.raises(DeliveryError):
        await notifier.send(make_notification())
    await notifier.stop()
    assert trapd.text().count("FAULTMGR-MIB::faultmgrAlertRaised") == 1


async def test_v3_trap_right_key_accepted_wrong_key_rejected(tmp_path: Path, snmptrapd: Any) -> None:
    trapd = snmptrapd(V3_CONF)
    for wrong_keys in ({"auth_pass": "not-the-auth-key"}, {"priv_pass": "not-the-priv-key"}):
        wrong = make_notifier(tmp_path, **v3_settings(tmp_path, trapd.port, **wrong_keys))
        await wrong.send(make_notification(state="resolved"))
        await wrong.stop()
    trapd.wait_for("Authentication failed")  # wrong authentication key
    trapd.wait_for("error parsing ScopedPDU")  # right authentication key, wrong privacy key: cannot decrypt
    right = make_notifier(tmp_path, **v3_settings(tmp_path, trapd.port))
    await right.send(make_notification())
    await right.stop()
    log = trapd.wait_for("FAULTMGR-MIB::faultmgrAlertRaised")
    assert "FAULTMGR-MIB::faultmgrAlertCleared" not in log


async def test_v3_inform_is_acknowledged(tmp_path: Path, snmptrapd: Any) -> None:
    # An inform's authoritative engine is the receiver's: the user is created without -e, and pysnmp
    # discovers snmptrapd's engine ID before sending.
    trapd = snmptrapd([f"createUser faultmgr SHA-256 {AUTH_PASS} AES {PRIV_PASS}", "authUser log faultmgr priv"])
    notifier = make_notifier(tmp_path, **{**v3_settings(tmp_path, trapd.port), "mode": "inform",
                                          "engine_id": None, "timeout": "1s", "retries": 2})
    receipt = await notifier.send(make_notification())
    await notifier.stop()
    assert receipt == "1 v3 inform(s) to 1 station(s)"
    trapd.wait_for("FAULTMGR-MIB::faultmgrAlertRaised")


def test_check_refuses_readable_keys_and_short_passphrases(tmp_path: Path) -> None:
    settings = v3_settings(tmp_path, 162)
    os.chmod(settings["auth_key_file"], 0o644)
    settings["priv_key_file"] = key_file(tmp_path, "short.key", "short")
    problems = make_notifier(tmp_path, **settings).check()
    assert any("chmod 600" in p for p in problems)
    assert any("at least 8" in p for p in problems)


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="needs user"):
        SnmpSettings(stations=["127.0.0.1"], version="v3")
    with pytest.raises(ValueError, match="engine_id"):
        SnmpSettings(stations=["127.0.0.1"], engine_id="zz")
    assert SnmpSettings(stations=["nms.example.invalid"]).stations[0].port == 162


@pytest.mark.parametrize(("auth", "priv", "trapd_priv"), [("SHA-224", "AES-128", "AES"),
                                                          ("SHA-384", "AES-192", "AES-192"),
                                                          ("SHA-512", "AES-256", "AES-256")])
async def test_v3_every_offered_protocol_is_understood_by_net_snmp(tmp_path: Path, snmptrapd: Any, auth: str,
                                                                    priv: str, trapd_priv: str) -> None:
    """Each SHA-2 authentication and AES privacy choice the settings offer, decoded by net-snmp (whose
    AES-192/256 keys are extended the Blumenthal way, as pysnmp's Blumenthal protocols do)."""
    trapd = snmptrapd([f"createUser -e 0x{ENGINE_ID} faultmgr {auth} {AUTH_PASS} {trapd_priv} {PRIV_PASS}",
                       "authUser log faultmgr priv"])
    notifier = make_notifier(tmp_path, **{**v3_settings(tmp_path, trapd.port), "auth_protocol": auth,
                                          "priv_protocol": priv})
    await notifier.send(make_notification())
    await notifier.stop()
    log = trapd.wait_for("faultmgrAlertDescription")
    assert "FAULTMGR-MIB::faultmgrAlertRaised" in log
