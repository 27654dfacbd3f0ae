"""The heartbeat wire format: encoding, and a decoder that trusts nothing before the MAC.

One packet (network byte order)::

    magic    4 bytes  b"FMHB"
    version  1 byte   1
    key_len  1 byte   length of the key id (1..32)
    key_id   key_len bytes, ASCII
    node_len 1 byte   length of the sender's node name (1..64)
    node     node_len bytes, UTF-8
    gen      8 bytes  unsigned: the sender's per-boot generation (grows across restarts)
    seq      8 bytes  unsigned: sequence number within the generation (starts at 1)
    sent_ns  8 bytes  signed: sender's wall clock, nanoseconds since the epoch (informative only)
    st_len   2 bytes  unsigned: length of the status
    status   st_len bytes: a compact JSON object (roles, held VIPs, ...), may be empty
    mac      32 bytes HMAC-SHA256, with the key named by key_id, over every byte before it

A packet is at most :data:`MAX_PACKET` bytes; longer input is refused before any parsing. The decoder
checks lengths first (``truncated``), then the MAC (``forged``), and only parses the node name and the JSON
of an authenticated packet (``malformed`` after that). It raises :class:`ProtocolError` and nothing else.
Replay checks need per-peer memory and live in :mod:`faultmgr_heartbeat.liveness`.
"""

from __future__ import annotations

import hmac
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from faultmgr_heartbeat.auth import Key, KeyRing

MAGIC = b"FMHB"
VERSION = 1
MAX_PACKET = 1024
MAC_SIZE = 32
MAX_KEY_ID = 32
MAX_NODE = 64

#: Every reason a received packet can be dropped for; ``status()`` counts each one.
DROP_REASONS = ("forged", "replayed", "truncated", "oversized", "unknown-peer", "malformed")

_PREFIX = struct.Struct("!4sBB")  # magic, version, key_len
_NUMBERS = struct.Struct("!QQqH")  # generation, seq, sent_ns, status length
#: The smallest packet that can be complete: one-byte key id and node name, empty status.
MIN_PACKET = _PREFIX.size + 1 + 1 + 1 + _NUMBERS.size + MAC_SIZE
#: Everything but the status in the largest packet (longest key id and node name): what a status must leave.
MAX_HEADER = _PREFIX.size + MAX_KEY_ID + 1 + MAX_NODE + _NUMBERS.size + MAC_SIZE


class ProtocolError(Exception):
    """A packet that must be dropped. ``reason`` is one of :data:`DROP_REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Packet:
    """One authenticated heartbeat."""

    node: str
    generation: int
    seq: int
    sent: float
    status: dict[str, Any] = field(default_factory=dict)
    key_id: str = ""


def encode(packet: Packet, key: Key) -> bytes:
    """Serialise and sign ``packet`` with ``key`` (``packet.key_id`` is ignored).

    Raises ``ValueError`` when a field is out of range or the result would exceed :data:`MAX_PACKET`.
    """
    node = packet.node.encode("utf-8")
    key_id = key.key_id.encode("ascii")
    if not 1 <= len(node) <= MAX_NODE:
        raise ValueError(f"node name must be 1..{MAX_NODE} bytes of UTF-8")
    if not (0 <= packet.generation < 2**64 and 0 <= packet.seq < 2**64):
        raise ValueError("generation and seq must fit in 64 unsigned bits")
    status = json.dumps(packet.status, separators=(",", ":"), sort_keys=True).encode() if packet.status else b""
    body = b"".join((
        _PREFIX.pack(MAGIC, VERSION, len(key_id)), key_id,
        bytes((len(node),)), node,
        _NUMBERS.pack(packet.generation, packet.seq, int(packet.sent * 1e9), len(status)), status,
    ))
    if len(body) + MAC_SIZE > MAX_PACKET:
        raise ValueError(f"packet of {len(body) + MAC_SIZE} bytes exceeds {MAX_PACKET}: the status is too large")
    return body + hmac.digest(key.secret, body, "sha256")


def decode(data: bytes, keys: KeyRing) -> Packet:
    """Check and parse one received packet; raise :class:`ProtocolError` when it must be dropped."""
    if len(data) > MAX_PACKET:
        raise ProtocolError("oversized", f"{len(data)} bytes")
    if len(data) >= _PREFIX.size:
        magic, version, key_len = _PREFIX.unpack_from(data)
        if magic != MAGIC:
            raise ProtocolError("malformed", "bad magic")
        if version != VERSION:
            raise ProtocolError("malformed", f"unsupported version {version}")
        if not 1 <= key_len <= MAX_KEY_ID:
            raise ProtocolError("malformed", "bad key id length")
    elif MAGIC.startswith(data[:4]):
        raise ProtocolError("truncated", f"{len(data)} bytes")
    else:
        raise ProtocolError("malformed", "bad magic")
    if len(data) < MIN_PACKET:
        raise ProtocolError("truncated", f"{len(data)} bytes")
    pos = _PREFIX.size
    key_id = data[pos:pos + key_len]
    pos += key_len
    node_len = data[pos]
    pos += 1
    if not 1 <= node_len <= MAX_NODE:
        raise ProtocolError("malformed", "bad node name length")
    node = data[pos:pos + node_len]
    pos += node_len
    if pos + _NUMBERS.size + MAC_SIZE > len(data):
        raise ProtocolError("truncated", "header cut short")
    generation, seq, sent_ns, status_len = _NUMBERS.unpack_from(data, pos)
    pos += _NUMBERS.size
    end = pos + status_len
    if end + MAC_SIZE > len(data):
        raise ProtocolError("truncated", "status or MAC cut short")
    if end + MAC_SIZE < len(data):
        raise ProtocolError("malformed", "trailing bytes")
    _authenticate(data, end, key_id, keys)
    return Packet(
        node=_text(node),
        generation=generation,
        seq=seq,
        sent=sent_ns / 1e9,
        status=_status(data[pos:end]),
        key_id=key_id.decode("ascii"),
    )


def _authenticate(data: bytes, end: int, key_id: bytes, keys: KeyRing) -> None:
    try:
        key = keys.get(key_id.decode("ascii"))
    except UnicodeDecodeError:
        key = None
    if key is None:
        raise ProtocolError("forged", "unknown key id")
    expected = hmac.digest(key.secret, data[:end], "sha256")
    if not hmac.compare_digest(expected, data[end:]):
        raise ProtocolError("forged", "bad MAC")


def _text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("malformed", "node name is not UTF-8") from None
    if not text.isprintable():
        raise ProtocolError("malformed", "node name has control characters")
    return text


def _status(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        # json.loads raises ValueError for bad JSON or UTF-8; deep nesting can exceed the recursion limit.
        raise ProtocolError("malformed", "status is not JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError("malformed", "status is not an object")
    return value
