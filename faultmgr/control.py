"""The local control socket: one JSON request per line, one JSON answer per line.

Authentication is the kernel's: the socket is mode 0660 and owned by the configured group, and every
request is attributed to the peer's user (``SO_PEERCRED``), which the journal records for each control action.
"""

from __future__ import annotations

import asyncio
import grp
import json
import logging
import os
import pwd
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("faultmgr.control")

MAX_REQUEST = 1024 * 1024
Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlError(Exception):
    """The daemon could not be reached (or did not answer in time)."""


class ControlRefused(ControlError):
    """The daemon answered and refused the request; ``errors`` holds details when it gave them."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def peer_identity(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a unix socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)  # type: ignore[return-value]


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class ControlServer:
    """Serves the control socket; ``handler(who, request)`` answers each request."""

    def __init__(self, path: Path, handler: Handler, group: str | None = None) -> None:
        self.path = path
        self.handler = handler
        self.group = group
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        old = os.umask(0o117)
        try:
            self.server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_REQUEST)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o660)
        if self.group:
            try:
                gid = grp.getgrnam(self.group).gr_gid
            except KeyError:
                await self.stop()
                raise ControlError(f"control_group {self.group!r}: no such group on this machine") from None
            os.chown(self.path, -1, gid)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        if self.path.exists():
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        try:
            _, uid, _ = peer_identity(sock)
            who = user_name(uid)
            line = await asyncio.wait_for(reader.readline(), 10)
            try:
                request = json.loads(line)
                if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                    raise ValueError("a request is a JSON object with a 'cmd'")
                answer = await self.handler(who, request)
            except (ValueError, KeyError, TypeError) as exc:
                # KeyError's str() adds quotes: use its message as given
                message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
                answer = {"ok": False, "error": message}
            except Exception as exc:  # a handler's bug: the caller still gets an answer, the log the traceback
                log.exception("control request %r failed", line[:200])
                answer = {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}
            writer.write(json.dumps(answer, default=str).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except Exception:
            log.exception("control request failed")
        finally:
            writer.close()


def request(path: Path, cmd: str, timeout: float = 30.0, **args: Any) -> dict[str, Any]:
    """Send one request to a running daemon; raises :class:`ControlError` with a clear message."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except FileNotFoundError:
            raise ControlError(f"no daemon is running (no control socket at {path})") from None
        except PermissionError:
            raise ControlError(f"permission denied on {path}: be root or in the daemon's control group") from None
        except ConnectionRefusedError:
            raise ControlError(f"the daemon is not answering at {path} (stale socket?)") from None
        sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise ControlError(f"the daemon did not answer {cmd!r} within {timeout:g}s") from None
    if not data:
        raise ControlError("the daemon closed the connection without answering")
    answer: dict[str, Any] = json.loads(data)
    if not answer.get("ok", False):
        raise ControlRefused(answer.get("error", "request refused"), answer.get("errors", []))
    return answer
