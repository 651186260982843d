"""Framing SIP messages and CRLF keepalives on a stream (framer.h)."""

import enum
from ctypes import byref, c_uint8, c_void_p, string_at
from dataclasses import dataclass
from typing import Iterator, Optional, Union

from . import _structs as S
from ._live import Live
from ._loader import C
from .errors import check


class FrameType(enum.IntEnum):
    NONE = 0
    MESSAGE = 1
    PING = 2  # a double CRLF: answer with one CRLF
    PONG = 3  # a single CRLF


@dataclass(frozen=True)
class Frame:
    type: FrameType
    data: bytes  # MESSAGE: the whole message; else b""
    body_offset: int

    @property
    def body(self) -> bytes:
        return self.data[self.body_offset:]


class Framer(Live):
    """Splits one connection's bytes into SIP messages and CRLF keepalives.

    ``feed()`` bytes, then iterate the framer for the complete frames. After
    a MalformedError or TooLargeError the stream cannot be resynchronised:
    close the connection.

    :param max_message: largest message, headers and body (0: 65535).
    """

    def __init__(self, max_message: int = 0) -> None:
        self._ctx = None
        self._depth = 0
        ptr = c_void_p()
        check(C.sipflow_framer_new(byref(ptr), None, max_message), "framer_new")
        self._own(ptr, C.sipflow_framer_del)

    def feed(self, data: Union[bytes, bytearray, memoryview]) -> None:
        raw = bytes(data)
        buf = (c_uint8 * max(len(raw), 1)).from_buffer_copy(raw.ljust(1, b"\0"))
        check(C.sipflow_framer_feed(self._p(), buf, len(raw)), "framer")

    def next(self) -> Optional[Frame]:
        """The next complete :class:`Frame`, or None when more bytes are
        needed."""
        f = S.frame()
        check(C.sipflow_framer_next(self._p(), f), "framer")
        if f.type == FrameType.NONE:
            return None
        data = string_at(f.data, f.len) if f.data else b""
        return Frame(FrameType(f.type), data, f.body_offset)

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.next()
            if frame is None:
                return
            yield frame

    def expect_pong(self, expecting: bool = True) -> None:
        """Tell the framer a CRLF ping is outstanding on this connection."""
        C.sipflow_framer_expect_pong(self._p(), 1 if expecting else 0)

    @property
    def pending(self) -> int:
        """Bytes held for the message in progress."""
        return int(C.sipflow_framer_pending(self._p()))
