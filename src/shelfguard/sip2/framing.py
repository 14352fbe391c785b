"""Cutting a SIP2 byte stream into frames, with no I/O so it can be tested alone.

A frame is one message without its terminator. The terminator is CR; an LF
right after a CR belongs to it (CR LF), even when the two bytes arrive in
different reads. Empty frames (a stray CR, as some machines send between
messages) are dropped. A frame longer than `protocol.MAX_MESSAGE` minus its
CR is refused with `FrameTooLong` as soon as the buffer passes that length,
so a peer that never sends a CR cannot make the server buffer without end.
"""

from __future__ import annotations

from shelfguard.sip2.protocol import MAX_MESSAGE

__all__ = ["MAX_FRAME", "FrameTooLong", "Framer"]

#: Longest frame, terminator excluded (`MAX_MESSAGE` counts the CR).
MAX_FRAME = MAX_MESSAGE - 1


class FrameTooLong(ValueError):
    """The peer sent more than `MAX_FRAME` bytes without a terminator."""


class Framer:
    """Feed it bytes as they arrive; it returns the complete frames."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self._max = max_frame
        # The last byte fed was a CR, so an LF first in the next chunk is its pair.
        self._after_cr = False

    @property
    def pending(self) -> bool:
        """Whether part of a frame has arrived and waits for its terminator."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        start = 0
        if self._after_cr and data[:1] == b"\n":
            start = 1
        self._after_cr = False
        while True:
            cr = data.find(b"\r", start)
            if cr == -1:
                break
            self._buffer += data[start:cr]
            self._check()
            if self._buffer:
                frames.append(bytes(self._buffer))
                self._buffer.clear()
            start = cr + 1
            if data[start : start + 1] == b"\n":
                start += 1
            elif start == len(data):
                self._after_cr = True
        self._buffer += data[start:]
        self._check()
        return frames

    def _check(self) -> None:
        if len(self._buffer) > self._max:
            self._buffer.clear()
            raise FrameTooLong(f"more than {self._max} bytes without a CR")
