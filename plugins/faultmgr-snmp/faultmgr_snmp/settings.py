"""Settings of an ``snmp`` receiver: management stations, SNMP version, and v2c or v3 credentials."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration, SecretFile

_HEX = re.compile(r"^(0x)?([0-9a-fA-F]{2}){5,32}$")


class Station(BaseModel):
    """One management station; also written as ``"host"`` or ``"host:port"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(description="address or name of the management station")
    port: int = Field(162, ge=1, le=65535, description="UDP port (162 for notifications)")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            host, sep, port = value.rpartition(":")
            return {"host": host, "port": port} if sep and port.isdigit() else {"host": value}
        return value

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class SnmpSettings(PluginSettings):
    """Settings of an ``snmp`` receiver."""

    stations: list[Station] = Field(min_length=1, description="management stations; each gets every notification")
    version: Literal["v2c", "v3"] = Field("v2c", description="SNMP version: v2c (community) or v3 (USM)")
    mode: Literal["trap", "inform"] = Field(
        "trap", description="trap: sent once, unacknowledged; inform: retried until the station acknowledges")
    timeout: Duration = Field(1.0, description="time to wait for an inform's acknowledgement, per try")
    retries: int = Field(3, ge=0, le=20, description="extra tries of an unacknowledged inform")
    community: str = Field("public", description="v2c community")
    user: str | None = Field(None, description="v3 USM user name")
    auth_protocol: Literal["SHA-224", "SHA-256", "SHA-384", "SHA-512"] = Field(
        "SHA-256", description="v3 authentication protocol (HMAC-SHA-2, RFC 7860)")
    priv_protocol: Literal["AES-128", "AES-192", "AES-256"] = Field(
        "AES-128", description="v3 privacy protocol (AES-128 is RFC 3826; 192/256 are the Blumenthal draft)")
    auth_key_file: SecretFile | None = Field(None, description="file holding the v3 authentication passphrase "
                                                               "(mode 0600)")
    priv_key_file: SecretFile | None = Field(None, description="file holding the v3 privacy passphrase (mode 0600)")
    engine_id: str | None = Field(
        None, description="this sender's snmpEngineID in hex (5-32 octets), e.g. 80001f8804666d6772; fixed so "
                          "stations can be told the v3 user's engine (snmptrapd: createUser -e)")

    @field_validator("engine_id")
    @classmethod
    def _engine_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _HEX.match(value):
            raise ValueError("engine_id must be 5 to 32 octets in hex, e.g. 80001f8804666d6772")
        return value.removeprefix("0x").lower()

    @model_validator(mode="after")
    def _v3(self) -> SnmpSettings:
        if self.version == "v3":
            missing = [k for k in ("user", "auth_key_file", "priv_key_file") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"version v3 (authPriv) needs {', '.join(missing)}")
            if self.mode == "trap" and self.engine_id is None:
                raise ValueError("v3 traps carry the sender's engine ID: set engine_id (stations need it too)")
        return self
