"""The ``snmp`` notifier: FAULTMGR-MIB notifications to several management stations.

One notification per alert of the group, to every station. Traps are fire-and-forget; informs wait for the
station's acknowledgement (``timeout`` x ``retries``). A station that acknowledged is remembered per
deduplication key, so when the outbox retries a notification only the stations that missed it get it again.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    NotificationType,
    ObjectIdentity,
    ObjectType,
    OctetString,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    send_notification,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
)

from faultmgr.alert import AlertView, Notification
from faultmgr.component import DeliveryError, Notifier
from faultmgr.config.types import check_private_file
from faultmgr_snmp.mib import alert_varbinds, notification_oid
from faultmgr_snmp.settings import SnmpSettings, Station

AUTH_PROTOCOLS = {
    "SHA-224": usmHMAC128SHA224AuthProtocol,
    "SHA-256": usmHMAC192SHA256AuthProtocol,
    "SHA-384": usmHMAC256SHA384AuthProtocol,
    "SHA-512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS = {
    "AES-128": usmAesCfb128Protocol,
    "AES-192": usmAesBlumenthalCfb192Protocol,
    "AES-256": usmAesBlumenthalCfb256Protocol,
}
#: How many notifications' partial deliveries are remembered (oldest forgotten first).
REMEMBERED = 1000
#: USM passphrases shorter than this are refused by net-snmp (RFC 3414 advises at least 8).
MIN_PASSPHRASE = 8


def _read_passphrase(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def placeholder_alert(notification: Notification) -> AlertView:
    """An alert for a notification that carries none (a notice, ``notify-test``)."""
    return AlertView(id=0, fingerprint=notification.dedup_key, rule=notification.kind,
                     subject=notification.receiver, severity="info", state="firing",
                     annotations={"summary": notification.title or notification.text})


class SnmpNotifier(Notifier):
    """Sends FAULTMGR-MIB notifications (traps or informs, v2c or v3 authPriv) to management stations."""

    Settings = SnmpSettings
    summary = "SNMP traps / informs (v2c, v3 authPriv SHA-2 + AES) with FAULTMGR-MIB"
    settings: SnmpSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._engines: dict[Station, SnmpEngine] = {}
        self._delivered: OrderedDict[str, set[Station]] = OrderedDict()

    def check(self) -> list[str]:
        problems: list[str] = []
        for what, path in (("SNMPv3 authentication key file", self.settings.auth_key_file),
                           ("SNMPv3 privacy key file", self.settings.priv_key_file)):
            if path is None:
                continue
            try:
                check_private_file(path, what)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if len(_read_passphrase(path)) < MIN_PASSPHRASE:
                problems.append(f"{what} {path}: the passphrase must have at least {MIN_PASSPHRASE} characters")
        return problems

    async def start(self) -> None:
        problems = self.check()
        if problems:
            raise ValueError(f"snmp receiver {self.name}: " + "; ".join(problems))
        # One engine per station: with pysnmp 7.1 one engine sending informs to two stations only matched
        # the acknowledgements of one of them (the other timed out although the station had answered).
        self._engines = {station: self._build_engine() for station in self.settings.stations}

    async def stop(self) -> None:
        for engine in self._engines.values():
            engine.close_dispatcher()
        self._engines = {}

    def _build_engine(self) -> SnmpEngine:
        engine_id = self.settings.engine_id
        return SnmpEngine(snmpEngineID=OctetString(hexValue=engine_id)) if engine_id else SnmpEngine()

    def _auth_data(self) -> CommunityData | UsmUserData:
        s = self.settings
        if s.version == "v2c":
            return CommunityData(s.community, mpModel=1)
        assert s.user and s.auth_key_file and s.priv_key_file  # guaranteed by SnmpSettings
        return UsmUserData(
            s.user, authKey=_read_passphrase(s.auth_key_file), privKey=_read_passphrase(s.priv_key_file),
            authProtocol=AUTH_PROTOCOLS[s.auth_protocol], privProtocol=PRIV_PROTOCOLS[s.priv_protocol],
        )

    async def _send_to(self, station: Station, notifications: list[NotificationType]) -> None:
        """Send every notification to one station; raise :class:`DeliveryError` on the first failure."""
        s = self.settings
        try:
            target = await UdpTransportTarget.create((station.host, station.port), timeout=s.timeout,
                                                     retries=s.retries)
        except Exception as exc:  # pysnmp raises its own error types for a bad address or name
            # Not permanent: a name that does not resolve may be a resolver that is down for now.
            raise DeliveryError(f"{station}: {exc}") from exc
        for notification in notifications:
            error, status, index, _ = await send_notification(
                self._engines[station], self._auth_data(), target, ContextData(), s.mode, notification)
            if error is not None:
                raise DeliveryError(f"{station}: {error}")
            if status:
                raise DeliveryError(f"{station}: {status.prettyPrint()} at varbind {index}")

    def _notifications(self, notification: Notification) -> list[NotificationType]:
        alerts = notification.alerts or [placeholder_alert(notification)]
        return [
            NotificationType(ObjectIdentity(notification_oid(alert))).add_varbinds(
                *(ObjectType(ObjectIdentity(oid), value) for oid, value in alert_varbinds(alert)))
            for alert in alerts
        ]

    async def send(self, notification: Notification) -> str:
        if not self._engines:
            await self.start()
        done = self._delivered.setdefault(notification.dedup_key, set())
        self._delivered.move_to_end(notification.dedup_key)
        while len(self._delivered) > REMEMBERED:
            self._delivered.popitem(last=False)
        pending = [st for st in self.settings.stations if st not in done]
        items = self._notifications(notification)
        results = await asyncio.gather(*(self._send_to(st, items) for st in pending), return_exceptions=True)
        failures: list[str] = []
        for station, result in zip(pending, results, strict=True):
            if isinstance(result, DeliveryError):
                failures.append(str(result))
            elif isinstance(result, BaseException):
                raise result
            elif self.settings.mode == "inform":
                done.add(station)
        if failures:
            raise DeliveryError("; ".join(failures))
        self._delivered.pop(notification.dedup_key, None)
        return f"{len(items)} {self.settings.version} {self.settings.mode}(s) to {len(pending)} station(s)"
