"""Serial framing: escaping, resynchronisation after garbage, bounded frames."""

from __future__ import annotations

from faultmgr_heartbeat.framing import END, ESC, FrameDecoder, frame
from hypothesis import given, settings
from hypothesis import strategies as st


def test_round_trip_with_special_bytes() -> None:
    payload = bytes([1, END, 2, ESC, 3, ESC, END])
    assert FrameDecoder(100).feed(frame(payload)) == [payload]


def test_garbage_before_and_between_frames_costs_one_frame_at_most() -> None:
    decoder = FrameDecoder(100)
    stream = b"line noise\x00\xff" + frame(b"one") + b"junk" + frame(b"two")
    assert decoder.feed(stream) == [b"line noise\x00\xff", b"one", b"junk", b"two"]


def test_split_across_reads() -> None:
    decoder = FrameDecoder(100)
    wire = frame(b"hello" + bytes([END]) + b"world")
    got = [f for i in range(len(wire)) for f in decoder.feed(wire[i:i + 1])]
    assert got == [b"hello" + bytes([END]) + b"world"]


def test_oversized_frame_is_cut_to_limit_plus_one_then_resyncs() -> None:
    decoder = FrameDecoder(10)
    got = decoder.feed(frame(b"x" * 50) + frame(b"ok"))
    assert got == [b"x" * 11, b"ok"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=5), st.binary(max_size=60), st.integers(1, 17))
def test_fuzz_decoder_never_raises_and_recovers(payloads: list[bytes], noise: bytes, chunk: int) -> None:
    decoder = FrameDecoder(32)
    wire = noise + b"".join(frame(p) for p in payloads)
    got = [f for i in range(0, len(wire), chunk) for f in decoder.feed(wire[i:i + chunk])]
    assert all(len(f) <= 33 for f in got)
    # Whatever the noise, every frame sent after it arrives intact (an oversized one, cut).
    wanted = [p if len(p) <= 32 else p[:33] for p in payloads if p]
    assert got[len(got) - len(wanted):] == wanted
