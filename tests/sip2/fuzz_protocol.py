"""Coverage-guided fuzzing of the SIP2 codec and framing (atheris, i.e. libFuzzer).

    python tests/sip2/fuzz_protocol.py [CORPUS_DIR] -max_total_time=60 -rss_limit_mb=512

For any bytes:

* `Framer` cuts them into frames no longer than `MAX_FRAME` or refuses with
  `FrameTooLong`, and cutting the same bytes in two pieces gives the same
  frames;
* `protocol.parse` returns a `Message` or raises `ProtocolError`, nothing
  else, in UTF-8 and Latin-1;
* a parsed message builds again (or is refused only for length), the built
  bytes parse to the same code, fixed and variable fields, and the checksum
  built is accepted when required;
* `protocol.mask` of any parsed message never raises and never shows a PIN.

libFuzzer's `-rss_limit_mb` bounds memory: a run that grows past it fails.
`test_fuzz_protocol.py` runs this for a few seconds on every test run.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from shelfguard.sip2 import protocol
    from shelfguard.sip2.framing import MAX_FRAME, Framer, FrameTooLong

ENCODINGS = ("utf-8", "latin-1")


def _frames(data: bytes, cut: int) -> list[bytes] | None:
    framer = Framer()
    try:
        return framer.feed(data[:cut]) + framer.feed(data[cut:])
    except FrameTooLong:
        return None


def check_framing(data: bytes, cut: int) -> None:
    whole = _frames(data, len(data))
    split = _frames(data, cut)
    if whole is None or split is None:
        # Too long is a property of the stream, not of how it was cut.
        assert whole is None and split is None
        return
    assert whole == split, (whole, split)
    for frame in whole:
        assert 0 < len(frame) <= MAX_FRAME
        assert b"\r" not in frame


def check_round_trip(raw: bytes, encoding: str) -> None:
    try:
        msg = protocol.parse(raw, encoding=encoding)
    except protocol.ProtocolError:
        return
    masked = protocol.mask(msg)
    for fid, _ in msg.fields:
        if fid in protocol.MASKED_FIELDS:
            assert f"{fid}{protocol.MASK}|" in masked
    try:
        built = protocol.build(msg, encoding=encoding)
    except protocol.ProtocolError as exc:
        assert "longer than" in str(exc), exc
        return
    again = protocol.parse(built, encoding=encoding, require_checksum=True)
    assert (again.code, again.fixed, again.fields) == (msg.code, msg.fixed, msg.fields)
    assert again.sequence == (0 if msg.sequence is None else msg.sequence)


def one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    encoding = ENCODINGS[provider.ConsumeIntInRange(0, len(ENCODINGS) - 1)]
    # Most random bytes fail at the message code; also try them behind a real one.
    code = ("11", "63", "93", "09")[provider.ConsumeIntInRange(0, 3)]
    cut = provider.ConsumeIntInRange(0, 8192)
    rest = provider.ConsumeBytes(provider.remaining_bytes())
    check_framing(rest, min(cut, len(rest)))
    check_round_trip(rest, encoding)
    check_round_trip(code.encode() + rest, encoding)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
