"""Wire format: round trip, each drop reason, and Hypothesis fuzzing of the decoder."""

from __future__ import annotations

import hmac
import struct

import pytest
from faultmgr_heartbeat.auth import Key, KeyRing
from faultmgr_heartbeat.protocol import MAX_PACKET, Packet, ProtocolError, decode, encode
from hypothesis import given, settings
from hypothesis import strategies as st

KEY = Key("k1", b"\x11" * 32)
OTHER = Key("k2", b"\x22" * 32)
RING = KeyRing([KEY])


def packet(**fields: object) -> Packet:
    values: dict[str, object] = {"node": "head-b", "generation": 7, "seq": 3, "sent": 1_700_000_000.25,
                                 "status": {"role": "primary", "vips": ["10.0.0.100"]}}
    values.update(fields)
    return Packet(**values)  # type: ignore[arg-type]


def reason(data: bytes, ring: KeyRing = RING) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode(data, ring)
    return caught.value.reason


def test_round_trip() -> None:
    got = decode(encode(packet(), KEY), RING)
    assert (got.node, got.generation, got.seq, got.status, got.key_id) == (
        "head-b", 7, 3, {"role": "primary", "vips": ["10.0.0.100"]}, "k1")
    assert got.sent == pytest.approx(1_700_000_000.25)


def test_empty_status_and_unicode_name() -> None:
    got = decode(encode(packet(node="tête-α", status={}), KEY), RING)
    assert (got.node, got.status) == ("tête-α", {})


def test_each_drop_reason() -> None:
    good = encode(packet(), KEY)
    assert reason(good[:-1]) == "truncated"
    assert reason(good[:10]) == "truncated"
    assert reason(b"") == "truncated"
    assert reason(good + b"x") == "malformed"
    assert reason(b"x" * (MAX_PACKET + 1)) == "oversized"
    assert reason(b"GET / HTTP/1.0\r\n\r\n") == "malformed"
    assert reason(good[:4] + b"\x09" + good[5:]) == "malformed"  # version 9
    tampered = bytearray(good)
    tampered[-40] ^= 1  # inside the status
    assert reason(bytes(tampered)) == "forged"
    assert reason(encode(packet(), OTHER)) == "forged"  # unknown key id
    assert reason(encode(packet(), Key("k1", b"\x33" * 32))) == "forged"  # right id, wrong secret


def test_rotation_accepts_every_listed_key() -> None:
    ring = KeyRing([OTHER, KEY])
    assert ring.send_key is OTHER
    assert decode(encode(packet(), KEY), ring).key_id == "k1"
    assert decode(encode(packet(), OTHER), ring).key_id == "k2"


def test_encode_refuses_an_oversized_status() -> None:
    with pytest.raises(ValueError, match="too large"):
        encode(packet(status={"blob": "x" * MAX_PACKET}), KEY)


def signed(status_raw: bytes, node: bytes = b"head-b") -> bytes:
    """A packet correctly signed with KEY around a raw status (what a buggy peer might send)."""
    base = encode(packet(status={}, node="n" * len(node)), KEY)[:-32]
    base = base.replace(b"n" * len(node), node, 1)
    body = base[:-2] + struct.pack("!H", len(status_raw)) + status_raw
    return body + hmac.digest(KEY.secret, body, "sha256")


def test_authenticated_nonsense_is_malformed() -> None:
    assert decode(signed(b'{"a":1}'), RING).status == {"a": 1}
    assert reason(signed(b"[1, 2]")) == "malformed"
    assert reason(signed(b"{not json")) == "malformed"
    assert reason(signed(b"[" * 440 + b"]" * 440)) == "malformed"
    assert reason(signed(b"", node=b"\xff\xfe")) == "malformed"
    assert reason(signed(b"", node=b"a\nb")) == "malformed"


# -- fuzzing ---------------------------------------------------------------------------------------

def must_not_accept(data: bytes, ring: KeyRing = RING) -> None:
    """Decoding ``data`` either raises ProtocolError or ``data`` is a packet really signed with the key."""
    try:
        decode(data, ring)
    except ProtocolError as exc:
        assert exc.reason in {"forged", "truncated", "oversized", "malformed"}
        return
    raise AssertionError(f"accepted a packet not made with the key: {data!r}")


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=MAX_PACKET + 64))
def test_fuzz_random_bytes(data: bytes) -> None:
    must_not_accept(data)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_after_a_valid_prefix(tail: bytes) -> None:
    # A real header followed by anything: must never get past the MAC.
    good = encode(packet(status={}), KEY)
    must_not_accept(good[:30] + tail)


@settings(max_examples=1500, deadline=None)
@given(st.data())
def test_fuzz_mutations_of_a_valid_packet(data: st.DataObject) -> None:
    good = encode(packet(), KEY)
    mutated = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        index = data.draw(st.integers(0, max(0, len(mutated) - 1)))
        if op == "flip" and mutated:
            mutated[index] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del mutated[index:index + data.draw(st.integers(1, 8))]
        else:
            mutated[index:index] = data.draw(st.binary(min_size=1, max_size=8))
    if bytes(mutated) == good:
        return
    must_not_accept(bytes(mutated))


@settings(max_examples=800, deadline=None)
@given(node=st.text(min_size=1, max_size=20).filter(lambda s: 0 < len(s.encode()) <= 64),
       generation=st.integers(0, 2**64 - 1), seq=st.integers(0, 2**64 - 1),
       status=st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8)), max_size=5))
def test_fuzz_well_formed_packets_with_the_wrong_key(node: str, generation: int, seq: int,
                                                     status: dict[str, object]) -> None:
    forged = encode(Packet(node, generation, seq, 0.0, status), Key("k1", b"\x99" * 32))
    must_not_accept(forged)
    if node.isprintable():
        # The same packet with the right key is accepted, and reads back exactly.
        got = decode(encode(Packet(node, generation, seq, 0.0, status), KEY), RING)
        assert (got.node, got.generation, got.seq, got.status) == (node, generation, seq, status)
