"""STUN and responder helpers, and the stream framer."""

import pytest

import sipflow
from sipflow import stun
from sipflow.stun import DatagramKind as K

TXID = bytes(range(1, 13))


@pytest.mark.parametrize(
    "rule, data, kind",
    [
        ("RFC 5626 §8.1: a STUN request", stun.encode_request(TXID), K.STUN),
        ("RFC 3261: a SIP request", b"OPTIONS sip:a SIP/2.0\r\n\r\n", K.SIP),
        ("RFC 5626 §4.4.1: a CRLF ping on UDP", b"\r\n\r\n", K.CRLF_PING),
        ("RFC 5626 §4.4.1: a CRLF pong", b"\r\n", K.CRLF_PONG),
        ("nathelper's 4-byte zero ping", b"\0\0\0\0", K.NAT_PING),
        ("noise", b"\x80\x01garbage", K.GARBAGE),
    ],
)
def test_datagrams_are_sorted(rule, data, kind):
    assert sipflow.classify_datagram(data) == kind, rule


def test_a_binding_request_is_answered_with_the_source_address():
    source = sipflow.Address("203.0.113.9", 40123)
    answer = stun.respond(stun.encode_request(TXID), source)
    assert len(answer) == 32  # RFC 5389 §15.2, IPv4, no FINGERPRINT
    msg = stun.decode(answer)
    assert msg.type == stun.StunType.BINDING_SUCCESS
    assert msg.txid == TXID
    assert msg.xor_mapped == source


def test_ipv6_success_with_fingerprint_round_trips():
    data = stun.encode_success(TXID, "[2001:db8::5]:7000", fingerprint=True)
    assert len(data) == 52
    msg = stun.decode(data)
    assert msg.has_fingerprint and msg.xor_mapped == sipflow.Address("2001:db8::5", 7000)


def request_with_attribute(attr_type):
    import struct

    attr = struct.pack("!HH4s", attr_type, 4, b"abcd")
    return struct.pack("!HHI", 0x0001, len(attr), 0x2112A442) + TXID + attr


def test_unknown_comprehension_required_attributes_get_a_420():
    req = request_with_attribute(0x0031)
    with pytest.raises(sipflow.UnsupportedError) as info:
        stun.decode(req)
    assert info.value.message_info.unknown == (0x0031,)
    answer = stun.decode(stun.respond(req, ("192.0.2.1", 1)))  # RFC 5389 §7.3.1
    assert answer.type == stun.StunType.BINDING_ERROR
    assert answer.error_code == 420 and answer.txid == TXID
    # An unknown optional attribute (0x8000-0xFFFF) is ignored.
    assert stun.decode(request_with_attribute(0x8031)).unknown == ()


def test_an_error_response_decodes_with_its_code():
    msg = stun.decode(stun.encode_error(TXID, 420, unknown=[0x0031, 0x0032]))
    assert msg.error_code == 420 and msg.cls == 3
    assert msg.type == stun.StunType.BINDING_ERROR


@pytest.mark.parametrize("junk", [b"", b"\0" * 19, b"\x01\x01" + b"\0" * 18,
                                  stun.encode_request(TXID)[:-1], b"\xff" * 600])
def test_bad_stun_input_raises_never_crashes(junk):
    with pytest.raises((sipflow.MalformedError, sipflow.TooLargeError)):
        stun.decode(junk)
    with pytest.raises((sipflow.MalformedError, sipflow.TooLargeError)):
        stun.respond(junk, ("192.0.2.1", 1))


def test_a_response_is_not_answered():
    with pytest.raises(sipflow.UnsupportedError):
        stun.respond(stun.encode_success(TXID, ("192.0.2.1", 1)), ("192.0.2.1", 1))


def test_the_transaction_id_must_be_12_bytes():
    with pytest.raises(ValueError):
        stun.encode_request(b"short")


def test_the_framer_splits_messages_and_keepalives():
    msg = b"MESSAGE sip:a SIP/2.0\r\nContent-Length: 5\r\n\r\nhello"
    with sipflow.Framer() as fr:
        fr.feed(b"\r\n\r\n" + msg[:10])
        frames = list(fr)
        assert [f.type for f in frames] == [sipflow.FrameType.PING]
        assert fr.pending == 10
        fr.feed(msg[10:])
        [m] = list(fr)
        assert m.type == sipflow.FrameType.MESSAGE and m.data == msg
        assert m.body == b"hello"
        fr.expect_pong(True)
        fr.feed(b"\r\n")
        assert [f.type for f in fr] == [sipflow.FrameType.PONG]


def test_the_framer_refuses_what_it_cannot_frame():
    with sipflow.Framer(max_message=64) as fr:
        fr.feed(b"INVITE sip:a SIP/2.0\r\nContent-Length: 1000\r\n\r\n")
        with pytest.raises(sipflow.TooLargeError):
            fr.next()
        with pytest.raises(sipflow.BadStateError):  # close the connection
            fr.next()


def test_the_framer_refuses_a_message_without_content_length():
    # RFC 3261 §18.3: the body would be read as a second request.
    with sipflow.Framer() as fr:
        fr.feed(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n"
                b"INVITE sip:b SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        with pytest.raises(sipflow.MalformedError):
            fr.next()
        with pytest.raises(sipflow.BadStateError):
            fr.next()
