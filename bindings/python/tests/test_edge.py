"""Edge decisions from keyword facts, Path/Record-Route values, NAT tests."""

import pytest

import sipflow
from sipflow import EdgeAction as A
from sipflow import EdgeHeader as H
from sipflow import errors

# (RFC rule, facts, expected action, header, status)
DECISIONS = [
    ("RFC 5626 §5.1: REGISTER with reg-id from the UA gets Path with ;ob",
     dict(method="REGISTER", contact_reg_id=True, arrival_flow=3),
     A.ADD_TOKEN_OB, H.PATH, 0),
    ("RFC 5626 §5.1: only the first hop adds ;ob",
     dict(method="REGISTER", contact_reg_id=True, via_count=2),
     A.NONE, H.NONE, 0),
    ("RFC 5626 §5.1: no reg-id, no Outbound",
     dict(method="REGISTER"), A.NONE, H.NONE, 0),
    ("RFC 3327 §5.2: REGISTER without Supported: path gets 421",
     dict(method="REGISTER", contact_reg_id=True, no_supported_path=True),
     A.REJECT, H.NONE, 421),
    ("RFC 5626 §5.3.2: dialog-forming request with ;ob in Contact",
     dict(method="INVITE", contact_ob=True, arrival_flow=3),
     A.ADD_TOKEN, H.RECORD_ROUTE, 0),
    ("RFC 5626 §5.3.2: in-dialog requests form no dialog",
     dict(method="INVITE", contact_ob=True, to_tag=True), A.NONE, H.NONE, 0),
    ("RFC 5626 §5.3.1: a tampered token gets 403",
     dict(method="INVITE", route_is_us=True, route_has_user=True,
          token_result=errors.TAMPERED), A.REJECT, H.NONE, 403),
    ("RFC 5626 §5.3.1: a token whose flow is gone gets 430",
     dict(method="INVITE", route_is_us=True, route_has_user=True,
          token_result=sipflow.errors.error_for(errors.STALE)),
     A.REJECT, H.NONE, 430),
    ("RFC 5626 §5.3.1: a valid token for another flow routes over it",
     dict(method="BYE", to_tag=True, route_is_us=True, route_has_user=True,
          token_flow=9, arrival_flow=3), A.ROUTE_FLOW, H.NONE, 0),
    ("RFC 5626 §5.3.2: a token for the arrival flow comes from the UA",
     dict(method="BYE", to_tag=True, route_is_us=True, route_has_user=True,
          token_flow=3, arrival_flow=3), A.NONE, H.NONE, 0),
    ("host override: force off never adds a token",
     dict(method="REGISTER", contact_reg_id=True, force="off"),
     A.NONE, H.NONE, 0),
]


@pytest.mark.parametrize("rule, facts, action, header, status", DECISIONS,
                         ids=[row[0] for row in DECISIONS])
def test_decide_follows_the_rfc(rule, facts, action, header, status):
    d = sipflow.decide(**facts)
    assert isinstance(d, sipflow.EdgeDecision)
    assert (d.action, d.header, d.status) == (action, header, status), d.reason_text
    assert d.reason_text  # every reason has words


def test_route_flow_names_the_flow_and_direction():
    d = sipflow.decide(method="BYE", to_tag=True, route_is_us=True,
                       route_has_user=True, token_flow=9, arrival_flow=3)
    assert d.flow == 9
    assert d.direction == sipflow.EdgeDirection.TO_UA
    assert d.action.label == "route-flow"
    assert "§5.3.1" in d.reason.text


def test_a_flow_table_lookup_feeds_the_facts(ctx):
    kr = sipflow.KeyRing(ctx)
    kr.new_key(1)
    ft = sipflow.FlowTable(ctx, kr)
    t = sipflow.FlowTuple("tcp", ("192.0.2.1", 5060), ("198.51.100.7", 4000))
    fid = ft.add(t)
    code, info = ft.lookup_result(ft.token(fid))
    d = sipflow.decide(method="MESSAGE", route_is_us=True, route_has_user=True,
                       token_result=code, token_flow=info.id, arrival_flow=fid + 1)
    assert d.action == A.ROUTE_FLOW and d.flow == fid


def test_bad_facts_are_refused():
    with pytest.raises(TypeError, match="color"):
        sipflow.decide(method="INVITE", color="blue")
    with pytest.raises(sipflow.InvalidArgumentError):
        sipflow.decide(method="INVITE", via_count=0)
    with pytest.raises(ValueError):
        sipflow.decide(method="INVITE", force="sideways")


def test_method_names_are_case_sensitive_as_in_rfc_3261():
    assert sipflow.EdgeMethod.parse("REGISTER") == sipflow.EdgeMethod.REGISTER
    assert sipflow.EdgeMethod.parse("register") == sipflow.EdgeMethod.OTHER


def test_format_uri_builds_path_values():
    assert (sipflow.format_uri("ep1.example.com", "abc-_0", port=5060,
                               transport="tcp", ob=True)
            == "<sip:abc-_0@ep1.example.com:5060;transport=tcp;lr;ob>")
    assert sipflow.format_uri("2001:db8::1") == "<sip:[2001:db8::1];lr>"
    with pytest.raises(sipflow.InvalidArgumentError):
        sipflow.format_uri("bad host", "tok")
    with pytest.raises(sipflow.InvalidArgumentError):
        sipflow.format_uri("h", "not+base64url")


NAT = [
    ("private Contact and Via behind a NAT",
     dict(transport="udp", source=("198.51.100.7", 40000),
          via=("10.0.0.2", 5060), contact=("10.0.0.2", 5060), via_rport=True),
     {"CONTACT_PRIVATE", "VIA_PRIVATE", "VIA_MISMATCH", "CONTACT_MISMATCH",
      "CONTACT_PORT_MISMATCH", "RPORT"}, True),
    ("a public UA sending from its Contact address",
     dict(transport="udp", source=("198.51.100.7", 5060),
          via=("198.51.100.7", 5060), contact=("198.51.100.7", 5060)),
     set(), False),
    ("RFC 3581 rport alone is not a NAT",
     dict(transport="udp", source=("198.51.100.7", 5060),
          via=("198.51.100.7", 5060), contact=("198.51.100.7", 5060),
          via_rport=True), {"RPORT"}, False),
    ("a WebSocket client's .invalid Contact host",
     dict(transport="wss", source=("198.51.100.7", 5060),
          via="abc.invalid", contact="abc.invalid"),
     {"VIA_MISMATCH", "CONTACT_MISMATCH"}, True),
]


@pytest.mark.parametrize("case, facts, names, behind", NAT,
                         ids=[row[0] for row in NAT])
def test_nat_detect(case, facts, names, behind):
    flags = sipflow.nat_detect(**facts)
    assert {f.name for f in sipflow.NatFlags if f and f & flags} == names
    assert flags.behind_nat is behind


def test_private_addresses():
    assert sipflow.is_private(("10.1.2.3", 0))
    assert sipflow.is_private("[fd00::1]:5060")
    assert not sipflow.is_private(("127.0.0.1", 0))  # loopback is not counted
    assert not sipflow.is_private(("198.51.100.7", 0))
