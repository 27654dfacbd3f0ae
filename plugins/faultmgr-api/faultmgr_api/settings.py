"""The ``api:`` rule-file section."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Default listen address: loopback only, so nothing is exposed until an operator says so.
DEFAULT_LISTEN = "127.0.0.1:9467"


def split_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9467"`` / ``"[::1]:9467"`` -> (host, port); ``ValueError`` when malformed."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"listen {value!r} is not 'address:port' (e.g. 127.0.0.1:9467 or [::1]:9467)")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    ipaddress.ip_address(host)  # a name would resolve at start: refuse it now, with the address in the error
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"listen {value!r}: port must be 0..65535")
    return host, port


class ApiSection(BaseModel):
    """Where and how the daemon serves its HTTP API, metrics and dashboard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = Field(DEFAULT_LISTEN, description="address:port to listen on (loopback by default; "
                                                    "[::1]:9467 for IPv6)")
    tokens_file: Path = Field(description="bearer tokens, one per line: `name scope token` with scope read or "
                                          "admin; the file must be private (mode 0600)")
    tls_cert: Path | None = Field(None, description="PEM certificate chain: serve HTTPS when set (with tls_key)")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert (mode 0600)")
    max_body_bytes: int = Field(65536, ge=256, le=16 * 1024 * 1024,
                                description="largest request body accepted; larger ones get 413")
    dashboard: bool = Field(True, description="serve the web dashboard at /")
    metrics_auth: bool = Field(False, description="require a read token for /metrics (Prometheus' "
                                                  "`authorization` setting)")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        try:
            split_listen(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        return self
