"""Heartbeat keys: the key file, and the ring of keys a node accepts.

Key file format (mode 0600, owned by the user faultmgr runs as)::

    # comments and blank lines are ignored
    # key-id   secret (hex, or base64 after a "base64:" prefix), at least 16 bytes
    2026-11    9f1c3a...64 hex digits...
    2026-05    base64:q83vEjRWeJA...

The **first** key signs what this node sends; every key listed is accepted on receipt. Rotating keys:
add the new key as a second line on every node, then move it first on every node, then remove the old
line. Each step keeps every pair of nodes talking.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

MIN_SECRET = 16
_KEY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,32}$")


class KeyFileError(ValueError):
    """The key file is missing, unsafe or malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Key:
    """One shared secret and the id that names it on the wire."""

    key_id: str
    secret: bytes

    def __repr__(self) -> str:
        return f"Key({self.key_id!r}, <{len(self.secret)} bytes>)"


class KeyRing:
    """The keys a node accepts; ``send_key`` (the first) signs outgoing packets."""

    def __init__(self, keys: list[Key]) -> None:
        if not keys:
            raise KeyFileError("no keys: a heartbeat key file needs at least one line `key-id secret`")
        self._keys = {key.key_id: key for key in keys}
        if len(self._keys) != len(keys):
            raise KeyFileError("the same key id is listed twice")
        self.send_key = keys[0]

    def get(self, key_id: str) -> Key | None:
        """The key named ``key_id``, or ``None``."""
        return self._keys.get(key_id)

    @property
    def key_ids(self) -> list[str]:
        """Every accepted key id, the sending key first."""
        return list(self._keys)


def parse_secret(text: str) -> bytes:
    """A secret written as hex, or as base64 after a ``base64:`` prefix."""
    try:
        if text.startswith("base64:"):
            return base64.b64decode(text[len("base64:"):], validate=True)
        return bytes.fromhex(text)
    except (ValueError, binascii.Error):
        raise ValueError("the secret is neither hex nor base64:<base64>") from None


def parse_key_file(text: str, source: str = "<key file>") -> KeyRing:
    """Parse the contents of a key file; errors name ``source`` and the line."""
    keys: list[Key] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        where = f"{source}:{number}"
        if len(parts) != 2:
            raise KeyFileError(f"{where}: expected `key-id secret`, found {len(parts)} fields")
        key_id, secret_text = parts
        if not _KEY_ID.match(key_id):
            raise KeyFileError(f"{where}: key id {key_id!r} must be 1-32 of A-Z a-z 0-9 . _ : -")
        try:
            secret = parse_secret(secret_text)
        except ValueError as exc:
            raise KeyFileError(f"{where}: {exc}") from None
        if len(secret) < MIN_SECRET:
            raise KeyFileError(f"{where}: secret of {len(secret)} bytes is too short (at least {MIN_SECRET}; "
                               f"e.g. `openssl rand -hex 32`)")
        keys.append(Key(key_id, secret))
    if not keys:
        raise KeyFileError(f"{source}: no keys (expected lines `key-id secret`)")
    try:
        return KeyRing(keys)
    except KeyFileError as exc:
        raise KeyFileError(f"{source}: {exc}") from None


def check_key_file(path: Path) -> None:
    """Raise :class:`KeyFileError` when ``path`` is not a private, readable file."""
    # Imported here: the beacon process uses this module and must start without the core (and pydantic).
    from faultmgr.config.types import check_private_file

    try:
        check_private_file(path, "heartbeat key file")
    except ValueError as exc:
        raise KeyFileError(str(exc)) from None


def load_key_file(path: Path) -> KeyRing:
    """Check the file's permissions, then read and parse it."""
    check_key_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"heartbeat key file {path} cannot be read: {exc}") from None
    return parse_key_file(text, str(path))
