"""KeyRing: key generation, rotation, minting and verifying tokens."""

import pytest

import sipflow

from conftest import tcp_tuple, udp_tuple


@pytest.fixture
def ring(ctx):
    kr = sipflow.KeyRing(ctx)
    kr.new_key(1)
    return kr


def test_generated_keys_are_32_fresh_bytes():
    a, b = sipflow.generate_key(), sipflow.generate_key()
    assert len(a) == len(b) == 32
    assert a != b


def test_the_first_key_becomes_current_and_ids_are_members(ctx):
    kr = sipflow.KeyRing(ctx)
    assert kr.current is None
    key = kr.new_key(7)
    assert len(key) == 32
    assert kr.current == 7
    assert 7 in kr and 8 not in kr
    kr.add(8, sipflow.generate_key())
    assert kr.current == 7
    kr.current = 8
    assert kr.current == 8


def test_a_minted_token_verifies_to_its_tuple(ring):
    t = udp_tuple()
    token = ring.mint(t)
    assert len(token) == 46  # SIPFLOW_TOKEN_IPV4_LEN
    info = ring.verify(token)
    assert info.tuple == t
    assert info.key_id == 1
    assert info.slot == 0
    assert sipflow.sip_status(0) == 0


def test_an_ipv6_token_is_78_characters(ring):
    t = sipflow.FlowTuple("tcp", ("2001:db8::1", 5060), ("[2001:db8::2]:5070"), 3)
    token = ring.mint(t)
    assert len(token) == 78
    assert ring.verify(token).tuple == t


def test_a_changed_character_is_tampered_and_answered_403(ring):
    token = ring.mint(udp_tuple())
    bad = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(sipflow.TamperedError) as info:
        ring.verify(bad)
    assert info.value.name == "SIPFLOW_ERR_TAMPERED"
    assert sipflow.sip_status(info.value) == 403  # RFC 5626 §5.3.1


def test_a_token_whose_key_left_the_ring_is_stale_and_answered_430(ring):
    token = ring.mint(tcp_tuple())
    ring.new_key(2, make_current=True)
    ring.remove(1)
    with pytest.raises(sipflow.StaleError) as info:
        ring.verify(token)
    assert info.value.info.key_id == 1
    assert sipflow.sip_status(info.value) == 430  # RFC 5626 §7 failover


def test_garbage_is_malformed_never_a_crash(ring):
    for junk in ["", "x", "%zz", "!" * 46, "A" * 500, b"\xff\x00" * 30]:
        with pytest.raises(sipflow.MalformedError):
            ring.verify(junk)
    assert sipflow.sip_status(sipflow.errors.MALFORMED) == 403


def test_ring_errors_are_typed(ctx):
    kr = sipflow.KeyRing(ctx)
    with pytest.raises(sipflow.BadStateError):
        kr.mint(udp_tuple())  # no current key
    kr.add(1, bytes(32))
    with pytest.raises(sipflow.ExistsError):
        kr.add(1, bytes(32))
    with pytest.raises(sipflow.InvalidArgumentError):
        kr.add(2, bytes(31))
    with pytest.raises(sipflow.BadStateError):
        kr.remove(1)  # the current key
    with pytest.raises(sipflow.NotFoundError):
        kr.remove(9)
    with pytest.raises(sipflow.NotFoundError):
        kr.current = 9


def test_keys_given_at_creation_verify_across_rings(ctx):
    key = sipflow.generate_key()
    a = sipflow.KeyRing(ctx, {5: key})
    b = sipflow.KeyRing(ctx, {5: key})
    assert b.verify(a.mint(udp_tuple())).key_id == 5
