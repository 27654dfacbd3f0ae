"""A small synchronous client of the HTTP API for ``faultmgr remote`` (standard library only).

Where to connect: ``--url``/``--token``, else ``FAULTMGR_API_URL``/``FAULTMGR_API_TOKEN``, else the file
``~/.config/faultmgr/remote.conf`` (or ``FAULTMGR_REMOTE_CONFIG``) with ``url = ...``, ``token = ...`` and
optionally ``cafile = ...`` lines; a file holding a token must be private (mode 0600).
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultmgr.config.types import check_private_file

URL_ENV, TOKEN_ENV, CONFIG_ENV = "FAULTMGR_API_URL", "FAULTMGR_API_TOKEN", "FAULTMGR_REMOTE_CONFIG"
DEFAULT_URL = "http://127.0.0.1:9467"
DEFAULT_CONFIG = Path("~/.config/faultmgr/remote.conf")
TIMEOUT_S = 10.0


class Unreachable(Exception):
    """The daemon could not be reached (refused, timed out, TLS failure) or there is nothing to reach."""


class ApiRefused(Exception):
    """The daemon answered with an error: ``status`` and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_config(path: Path) -> dict[str, str]:
    """``key = value`` lines; ``#`` comments."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise Unreachable(f"{path}:{number}: expected `key = value`")
        values[key.strip()] = value.strip()
    if "token" in values:
        try:
            check_private_file(path, "remote config file (it holds a token)")
        except ValueError as exc:
            raise Unreachable(str(exc)) from None
    return values


@dataclass
class Client:
    """Calls ``/api/v1`` with a bearer token."""

    url: str
    token: str | None
    cafile: str | None = None
    timeout: float = TIMEOUT_S

    @classmethod
    def configured(cls, url: str | None, token: str | None, config: str | None) -> Client:
        path = Path(config or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()
        values = read_config(path) if path.is_file() else {}
        if config and not path.is_file():
            raise Unreachable(f"remote config file {path} does not exist")
        final_url = url or os.environ.get(URL_ENV) or values.get("url") or DEFAULT_URL
        final_token = token or os.environ.get(TOKEN_ENV) or values.get("token")
        return cls(final_url.rstrip("/"), final_token, values.get("cafile"))

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        """One request; the decoded JSON answer, or :class:`ApiRefused` / :class:`Unreachable`."""
        params = {k: v for k, v in (query or {}).items() if v not in (None, "", ())}
        target = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(target, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        context = ssl.create_default_context(cafile=self.cafile) if target.startswith("https:") else None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ApiRefused(exc.code, _message(exc)) from None
        except urllib.error.URLError as exc:
            reason = getattr(exc.reason, "strerror", None) or str(exc.reason)
            raise Unreachable(f"cannot reach the faultmgr API at {self.url}: {reason}") from None
        except (TimeoutError, ConnectionError) as exc:
            raise Unreachable(f"cannot reach the faultmgr API at {self.url}: {exc}") from None
        except ValueError as exc:
            raise Unreachable(f"{self.url} did not answer with JSON ({exc}): is it the faultmgr API?") from None


def _message(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read())
        return str(data.get("error") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)
