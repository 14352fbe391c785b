"""Cutting the byte stream into frames: terminators, limits, any chunking."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelfguard.sip2.framing import MAX_FRAME, Framer, FrameTooLong
from shelfguard.sip2.protocol import MAX_MESSAGE


def test_cr_and_cr_lf_both_end_a_frame():
    assert Framer().feed(b"9900802.00AY1AZFCA5\r99\r\n23") == [b"9900802.00AY1AZFCA5", b"99"]


def test_lf_split_from_its_cr_is_not_the_start_of_the_next_frame():
    framer = Framer()
    assert framer.feed(b"99\r") == [b"99"]
    assert framer.feed(b"\n17x\r") == [b"17x"]


def test_stray_crs_make_no_empty_frames():
    assert Framer().feed(b"\r\r\n\r99\r\r") == [b"99"]


def test_a_part_frame_waits_for_its_terminator():
    framer = Framer()
    assert framer.feed(b"99") == []
    assert framer.pending
    assert framer.feed(b"0\r") == [b"990"]
    assert not framer.pending


def test_the_longest_message_passes_and_one_byte_more_is_refused():
    assert MAX_FRAME == MAX_MESSAGE - 1
    assert Framer().feed(b"x" * MAX_FRAME + b"\r") == [b"x" * MAX_FRAME]
    framer = Framer()
    framer.feed(b"x" * MAX_FRAME)
    with pytest.raises(FrameTooLong):
        framer.feed(b"x")


def test_too_long_is_noticed_before_any_terminator_arrives():
    with pytest.raises(FrameTooLong):
        Framer().feed(b"y" * (MAX_FRAME + 1))


frame_bytes = st.binary(min_size=1, max_size=300).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"") or b"9"
)


@given(
    frames=st.lists(frame_bytes, max_size=12),
    terminators=st.lists(st.sampled_from([b"\r", b"\r\n"]), min_size=12, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=30),
)
def test_any_chunking_of_a_stream_gives_the_same_frames(frames, terminators, cuts):
    stream = b"".join(f + t for f, t in zip(frames, terminators, strict=False))
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    framer = Framer()
    got = []
    for start, end in itertools.pairwise(points):
        got += framer.feed(stream[start:end])
    assert got == frames
    assert not framer.pending
