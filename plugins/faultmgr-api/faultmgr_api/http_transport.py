"""The command line's transport over the HTTP API (``faultmgr_control_transport``; standard library only).

Each control request is one ``POST /api/v1/control`` with the configured bearer token; the answer is the one
the control socket would give. Failures become the core's exceptions: :class:`ControlError` (one line: the API
cannot be reached, TLS failed, not a faultmgr API, no or wrong token) and :class:`ControlRefused` (the daemon
answered and said no).
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from faultmgr.cli.client_config import ApiTarget
from faultmgr.control import ControlError, ControlRefused

CONTROL_PATH = "/api/v1/control"


class ApiTransport:
    """Sends control requests to ``target``'s ``/api/v1/control``."""

    def __init__(self, target: ApiTarget) -> None:
        self.target = target
        self.where = target.url

    def request(self, cmd: str, timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """One request: the answer (``{"ok": True, ...}``), or :class:`ControlRefused` / :class:`ControlError`.
        The connection and the answer may take the client config's ``timeout`` (10 s), or ``timeout`` when the
        request waits longer (a pool drain)."""
        target = self.target
        body = json.dumps({"cmd": cmd, "args": args}, default=str).encode()
        # The request's name and arguments travel in the body: no pool or server name is ever put in the URL.
        req = urllib.request.Request(target.url + CONTROL_PATH, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        if target.token:
            req.add_header("Authorization", f"Bearer {target.token}")
        context = None
        if target.url.startswith("https:"):
            context = ssl.create_default_context(cafile=str(target.cafile) if target.cafile else None)
        try:
            with urllib.request.urlopen(req, timeout=max(timeout or 0.0, target.timeout), context=context) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise self._refusal(exc) from None
        except urllib.error.URLError as exc:
            reason = getattr(exc.reason, "strerror", None) or str(exc.reason)
            raise ControlError(f"cannot reach the faultmgr API at {target.url}: {reason}") from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise ControlError(f"cannot reach the faultmgr API at {target.url}: {exc or type(exc).__name__}") \
                from None
        except ValueError as exc:
            raise ControlError(f"{target.url} did not answer with JSON ({exc}): is it the faultmgr API?") from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            raise ControlError(f"{target.url} gave an answer that is not a control answer: is it the faultmgr API?")
        return answer

    def _refusal(self, exc: urllib.error.HTTPError) -> ControlError:
        try:
            data = json.loads(exc.read())
        except ValueError:
            data = None
        if not isinstance(data, dict) or "error" not in data:
            return ControlError(f"{self.target.url} answered {exc.code} {exc.reason}: is it the faultmgr API "
                                f"(with a version that has {CONTROL_PATH})?")
        message = str(data["error"])
        if exc.code == 404:  # every refusal of /api/v1/control is a 422: the daemon's API predates it
            return ControlError(f"the faultmgr API at {self.target.url} has no {CONTROL_PATH}: is the daemon "
                                f"older than this command line?")
        if exc.code == 401:
            source = "no token configured" if not self.target.token else "the token was not accepted"
            return ControlError(f"the faultmgr API at {self.target.url} refused: {message} ({source}; see "
                                f"FAULTMGR_API_TOKEN, FAULTMGR_API_TOKEN_FILE or the client config file)")
        if exc.code == 403:
            return ControlRefused(message)
        return ControlRefused(message, [str(e) for e in data.get("errors") or []])

