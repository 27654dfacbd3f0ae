"""Twilio credentials: the account SID and auth token, from a private file or the environment.

Never from the rule file: a rule file is shared and versioned, a token in it would leak with it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from faultmgr.config.types import check_private_file

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class Credentials:
    """An account SID and its auth token (``repr`` hides the token)."""

    account_sid: str
    auth_token: str

    def __repr__(self) -> str:
        return f"Credentials(account_sid={self.account_sid!r}, auth_token=***)"


def _key(name: str) -> str:
    return name.strip().lower().removeprefix("twilio_")


def parse_credentials_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (systemd ``EnvironmentFile`` style; ``#`` comments); keys ``TWILIO_ACCOUNT_SID`` and
    ``TWILIO_AUTH_TOKEN`` (case and the ``TWILIO_`` prefix do not matter)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}:{number}: expected KEY=VALUE")
        values[_key(key)] = value.strip().strip("\"'")
    return values


def load_credentials(path: Path | None, sid_env: str, token_env: str) -> Credentials:
    """Read and check the credentials; ``ValueError`` says what is missing or wrong (never the token)."""
    if path is not None:
        check_private_file(path, "Twilio credentials file")
        values = parse_credentials_file(path)
        where = str(path)
    else:
        values = {"account_sid": os.environ.get(sid_env, ""), "auth_token": os.environ.get(token_env, "")}
        where = f"environment ({sid_env}, {token_env})"
    sid, token = values.get("account_sid", ""), values.get("auth_token", "")
    if not sid or not token:
        raise ValueError(f"Twilio account SID and auth token are both needed; missing in {where}")
    if not ACCOUNT_SID.match(sid):
        raise ValueError(f"Twilio account SID from {where} is not AC followed by 32 hex digits")
    return Credentials(sid, token)
