"""STUN Binding messages (RFC 5389, RFC 5626 §8) and the responder helpers:
sorting datagrams and answering keepalives. All pure functions."""

import ctypes
import enum
from ctypes import byref, c_size_t, c_uint8, c_uint16
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

from . import _structs as S
from ._loader import C
from .errors import SipflowError, check
from .types import Address, AddressLike, to_c_addr

CRLF_PING = b"\r\n\r\n"
CRLF_PONG = b"\r\n"
TXID_LEN = S.STUN_TXID_LEN
MAX_LEN = S.STUN_MAX_LEN


class DatagramKind(enum.IntEnum):
    """What a datagram on a SIP UDP port is (RFC 5626 §8.1)."""

    GARBAGE = 0
    SIP = 1
    STUN = 2
    CRLF_PING = 3
    CRLF_PONG = 4
    NAT_PING = 5


class StunType(enum.IntEnum):
    BINDING_REQUEST = 0x0001
    BINDING_INDICATION = 0x0011
    BINDING_SUCCESS = 0x0101
    BINDING_ERROR = 0x0111


#: Bytes as the functions here take them.
BytesLike = Union[bytes, bytearray, memoryview]


def _buf(data: BytesLike) -> "Tuple[ctypes.Array[c_uint8], int]":
    raw = bytes(data)
    return (c_uint8 * max(len(raw), 1)).from_buffer_copy(raw.ljust(1, b"\0")), len(raw)


def _txid(txid: BytesLike) -> "ctypes.Array[c_uint8]":
    raw = bytes(txid)
    if len(raw) != TXID_LEN:
        raise ValueError("a STUN transaction id is %d bytes" % TXID_LEN)
    return (c_uint8 * TXID_LEN).from_buffer_copy(raw)


def classify_datagram(data: BytesLike) -> DatagramKind:
    """Sort one datagram received on a SIP UDP port: a :class:`DatagramKind`."""
    buf, n = _buf(data)
    return DatagramKind(C.sipflow_datagram_classify(buf, n))


def respond(request: BytesLike, source: AddressLike) -> bytes:
    """The answer to a STUN Binding request from ``source`` (send it back
    from the port it arrived on).

    :raises MalformedError, TooLargeError, UnsupportedError: drop the
        datagram without an answer.
    """
    buf, n = _buf(request)
    out = (c_uint8 * MAX_LEN)()
    outlen = c_size_t()
    check(C.sipflow_stun_respond(buf, n, to_c_addr(source), out, MAX_LEN,
                                 byref(outlen)), "STUN request")
    return bytes(out[: outlen.value])


def is_message(data: BytesLike) -> bool:
    """Whether ``data`` looks like a STUN message (RFC 5626 §8.1 test)."""
    buf, n = _buf(data)
    return bool(C.sipflow_stun_is_message(buf, n))


@dataclass(frozen=True)
class StunMessage:
    """A decoded STUN message."""

    type: int
    method: int
    cls: int  # 0 request, 1 indication, 2 success, 3 error
    txid: bytes
    xor_mapped: Optional[Address]
    mapped: Optional[Address]
    has_integrity: bool
    has_fingerprint: bool
    error_code: int
    unknown: Tuple[int, ...]  # unknown comprehension-required attributes
    length: int


def decode(data: BytesLike) -> Optional[StunMessage]:
    """Decode one STUN message.

    :raises MalformedError, TooLargeError: not a usable STUN message.
    :raises UnsupportedError: unknown comprehension-required attributes;
        the exception's ``message_info`` is the decoded message.
    """
    buf, n = _buf(data)
    m = S.stun_msg()
    rv = C.sipflow_stun_decode(m, buf, n)
    msg = None
    if rv == 0 or m.length:
        msg = StunMessage(
            type=m.type,
            method=m.method,
            cls=m.cls,
            txid=bytes(m.txid),
            xor_mapped=Address.from_c(m.xor_mapped) if m.has_xor_mapped else None,
            mapped=Address.from_c(m.mapped) if m.has_mapped else None,
            has_integrity=bool(m.has_integrity),
            has_fingerprint=bool(m.has_fingerprint),
            error_code=m.error_code,
            unknown=tuple(m.unknown[: min(m.n_unknown, S.STUN_MAX_UNKNOWN)]),
            length=m.length,
        )
    try:
        check(rv, "STUN")
    except SipflowError as exc:
        exc.message_info = msg
        raise
    return msg


def encode_request(txid: BytesLike) -> bytes:
    """The 20-byte Binding request RFC 5626 §8 sends."""
    out = (c_uint8 * MAX_LEN)()
    n = c_size_t()
    check(C.sipflow_stun_encode_request(out, MAX_LEN, _txid(txid), byref(n)),
          "STUN")
    return bytes(out[: n.value])


def encode_success(txid: BytesLike, mapped: AddressLike,
                   fingerprint: bool = False) -> bytes:
    """A Binding success response carrying XOR-MAPPED-ADDRESS ``mapped``."""
    out = (c_uint8 * MAX_LEN)()
    n = c_size_t()
    check(C.sipflow_stun_encode_success(out, MAX_LEN, _txid(txid),
                                        to_c_addr(mapped),
                                        1 if fingerprint else 0, byref(n)),
          "STUN")
    return bytes(out[: n.value])


def encode_error(txid: BytesLike, code: int, unknown: Sequence[int] = (),
                 fingerprint: bool = False) -> bytes:
    """A Binding error response (with UNKNOWN-ATTRIBUTES for a 420)."""
    out = (c_uint8 * MAX_LEN)()
    n = c_size_t()
    attrs = (c_uint16 * max(len(unknown), 1))(*unknown)
    check(C.sipflow_stun_encode_error(out, MAX_LEN, _txid(txid), code, attrs,
                                      len(unknown), 1 if fingerprint else 0,
                                      byref(n)), "STUN")
    return bytes(out[: n.value])
